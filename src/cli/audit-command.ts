// Verifies an audit export offline: nothing but the file (and, to prove who wrote it, the public JWKS).
// Exit status: 0 intact; 1 tampered, truncated or not signed by a key of the JWKS; 2 usage or format error.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ExportFormatError, type ExportVerifyResult, verifyAuditExport } from '../audit/export-reader.js';
import type { Jwks } from '../crypto/index.js';

const USAGE = `usage: audit verify <export-file> [--jwks <jwks.json>] [--json]

Verifies an export of GET /v1/audit/export (JSON or CSV): every event's hash, the chain of prev_hash links,
seq order, and the export's checkpoint (count, head seq and hash). With --jwks (the server's
/.well-known/jwks.json saved to a file) the checkpoint's Ed25519 signature must verify too.

exit 0: intact   exit 1: tampered (first bad seq and reason printed)   exit 2: usage or format error`;

class UsageError extends Error {}

interface Args {
  file: string;
  jwks: string | null;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') throw new UsageError('');
  if (command !== 'verify') throw new UsageError(`unknown command ${command}`);
  let file: string | null = null;
  let jwks: string | null = null;
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    if (a === '--json') json = true;
    else if (a === '--jwks') {
      const v = rest[++i];
      if (v === undefined) throw new UsageError('--jwks needs a file');
      jwks = v;
    } else if (a.startsWith('--jwks=')) jwks = a.slice('--jwks='.length);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else if (file === null) file = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  if (file === null) throw new UsageError('no export file given');
  return { file, jwks, json };
}

async function loadJwks(path: string): Promise<Jwks> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ExportFormatError(`cannot read the JWKS ${path}: ${(err as Error).message}`);
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw new ExportFormatError(`${path} is not a JWKS (no keys array)`);
  const usable = keys.filter(
    (k) => k && typeof k === 'object' && k.kty === 'OKP' && k.crv === 'Ed25519' && typeof k.x === 'string',
  );
  if (usable.length === 0) throw new ExportFormatError(`${path} holds no Ed25519 key`);
  return { keys: usable };
}

const events = (n: number) => `${n} event${n === 1 ? '' : 's'}`;

function human(file: string, r: ExportVerifyResult): string {
  const out: string[] = [];
  const cp = r.checkpoint;
  if (r.ok) {
    const range = r.checked > 0 ? `seq ${r.head_seq - r.checked + 1}..${r.head_seq}` : 'no events';
    out.push(`OK ${file}: ${r.format}, org ${r.org_id}, ${events(r.checked)} (${range}), head ${r.head_hash}`);
  } else {
    const where = r.first_bad_seq !== null ? `first bad seq ${r.first_bad_seq}` : 'checkpoint';
    out.push(`TAMPERED ${file}: ${where} (${r.reason})`);
    if (r.detail) out.push(`  ${r.detail}`);
    out.push(`  verified good: ${events(r.checked)}, up to seq ${r.head_seq}`);
  }
  if (cp.signature === 'valid')
    out.push(`  checkpoint: signed by kid ${cp.kid}, exported_at ${cp.payload?.exported_at}`);
  else if (cp.signature === 'invalid') out.push(`  checkpoint: signature INVALID (${cp.problem})`);
  else if (cp.present) out.push('  checkpoint: present, signature not checked (pass --jwks to prove who exported it)');
  else if (cp.present === false) out.push('  checkpoint: missing');
  return out.join('\n');
}

/** Runs `audit <argv…>` and returns the exit status. */
export async function runAuditCommand(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    const message = (err as Error).message;
    process.stderr.write(`${message ? `audit: ${message}\n` : ''}${USAGE}\n`);
    return 2;
  }
  try {
    const jwks = args.jwks === null ? null : await loadJwks(args.jwks);
    const result = await verifyAuditExport(createReadStream(args.file), { jwks });
    if (args.json) process.stdout.write(`${JSON.stringify({ file: args.file, ...result })}\n`);
    else process.stdout.write(`${human(args.file, result)}\n`);
    return result.ok ? 0 : 1;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof ExportFormatError || e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES') {
      if (args.json) process.stdout.write(`${JSON.stringify({ file: args.file, error: e.message })}\n`);
      process.stderr.write(`audit: ${e.message}\n`);
      return 2;
    }
    throw err;
  }
}
