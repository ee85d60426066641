import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditChainer } from '../../src/audit/chainer.js';
import { auditHash } from '../../src/audit/hash.js';
import { type AuditDraft, type AuditEvent, GENESIS_HASH } from '../../src/audit/types.js';
import type { StorageAdapter } from '../../src/storage/index.js';
import { isoTime } from '../../src/util/clock.js';
import { ID_PREFIX, newId } from '../../src/util/ids.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

/** Options of {@link makeDrafts}. */
export interface DraftOptions {
  /** Milliseconds of the first draft's `at`; each next one is a second later. */
  startMs?: number;
  /** Agent ids handed out round-robin (null: none). */
  agents?: (string | null)[];
  types?: string[];
}

/** `n` varied drafts of an org (types, agents, subjects, payloads with quotes, commas and non-ASCII). */
export function makeDrafts(orgId: string, n: number, options: DraftOptions = {}): AuditDraft[] {
  const start = options.startMs ?? T0;
  const agents = options.agents ?? ['agt_alpha', null, 'agt_beta'];
  const types = options.types ?? ['agent.created', 'authorization.approved', 'binding.suspended', 'token.issued'];
  const out: AuditDraft[] = [];
  for (let i = 0; i < n; i++) {
    const at = start + i * 1000;
    out.push({
      id: newId(ID_PREFIX.auditEvent, at),
      org_id: orgId,
      at: isoTime(at),
      type: types[i % types.length] as string,
      actor: i % 5 === 0 ? 'system' : 'key_test',
      subject: { kind: 'thing', id: `sub_${i % 4}` },
      agent_id: agents[i % agents.length] ?? null,
      payload: {
        n: i,
        note: i % 3 === 0 ? 'a "quoted", comma\nnewline — ünïcode' : 'plain',
        nested: { amount: 1850 * i, list: [1, 'two', null, true] },
      },
    });
  }
  return out;
}

/** Writes drafts to the store and links them with a chainer of its own (no engine needed). */
export async function linkDrafts(store: StorageAdapter, drafts: AuditDraft[]): Promise<void> {
  await store.appendAuditDrafts(drafts);
  await new AuditChainer({ store }).drain();
}

/** `n` linked events of an org built directly, with correct hashes (fast: for large chains). */
export function makeLinkedEvents(orgId: string, n: number, fromSeq = 1, prev = GENESIS_HASH): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prevHash = prev;
  const linkedAt = isoTime(T0 + 3_600_000);
  for (let i = 0; i < n; i++) {
    const seq = fromSeq + i;
    const body = {
      id: `evt_${orgId}_${seq}`,
      org_id: orgId,
      seq,
      at: isoTime(T0 + seq * 1000),
      type: 'authorization.approved',
      actor: 'key_bench',
      subject: { kind: 'authorization', id: `pa_${seq}` },
      agent_id: 'agt_bench',
      payload: { action: 'ALLOW', amount: 1850, currency: 'USD', seq },
      prev_hash: prevHash,
    };
    const hash = auditHash(body);
    out.push({ ...body, hash, linked_at: linkedAt });
    prevHash = hash;
  }
  return out;
}

/** A temporary directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-audit-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The built CLI. */
export const AUDIT_CLI = fileURLToPath(new URL('../../src/cli/audit.js', import.meta.url));

/** What the CLI printed with --json, and its exit status. */
export interface CliRun {
  code: number;
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON report
  report: any;
  stdout: string;
  stderr: string;
}

/** Runs `node build/src/cli/audit.js verify <file> [--jwks <file>] --json` as a child process. */
export function runAuditCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AUDIT_CLI, ...args], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      let report: unknown = null;
      try {
        report = JSON.parse(stdout);
      } catch {
        report = null;
      }
      resolve({ code, report, stdout, stderr });
    });
  });
}

/** Verifies `file` with the CLI (and `jwks` written next to it when given). */
export async function verifyWithCli(file: string, jwks?: object): Promise<CliRun> {
  const args = ['verify', file, '--json'];
  if (jwks) {
    const path = `${file}.jwks.json`;
    await writeFile(path, JSON.stringify(jwks));
    args.push('--jwks', path);
  }
  return runAuditCli(args);
}
