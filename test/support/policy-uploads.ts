import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { runOpa } from '../../src/policy/index.js';
import { bundleFrom, POLICY_DIR } from './policy-bundle.js';

/** Intent decision that allows everything (org policies below only care about spend). */
export const ALLOW_INTENT = 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n';

/**
 * An org policy that denies the merchant ids listed in its data.json (`data.blocked_merchants`) with
 * `no_vendor`, and otherwise allows.
 */
export function vendorPolicy(revision: string, blocked: string[]): Promise<Uint8Array> {
  return bundleFrom(
    {
      'spend.rego':
        'package allowance.spend\n\n' +
        'decision := {"action": "DENY", "reasons": ["no_vendor"]} if input.request.merchant.id in data.blocked_merchants\n' +
        'else := {"action": "ALLOW", "reasons": []}\n',
      'intent.rego': ALLOW_INTENT,
      'data.json': JSON.stringify({ blocked_merchants: blocked }),
    },
    revision,
  );
}

/** A tar.gz of the given entries (tar-stream headers), for malformed uploads. */
export async function tarGz(
  entries: { name: string; type?: 'file' | 'symlink' | 'link'; linkname?: string; data?: string }[],
) {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((ok) => p.on('end', () => ok()));
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link') {
      p.entry({ name: e.name, type: e.type, linkname: e.linkname ?? 'x' });
    } else {
      p.entry({ name: e.name }, e.data ?? '');
    }
  }
  p.finalize();
  await done;
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}

/** A bundle with only the spend entry point. */
export async function spendOnlyBundle(): Promise<Uint8Array> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const src = await mkdtemp(join(tmpdir(), 'allowance-spend-only-'));
  await mkdir(src, { recursive: true });
  await writeFile(
    join(src, 'spend.rego'),
    'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  );
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-spend-only-out-')), 'bundle.tar.gz');
  await runOpa(
    [
      'build',
      '-t',
      'wasm',
      '--capabilities',
      join(POLICY_DIR, 'capabilities.json'),
      '-e',
      'allowance/spend/decision',
      '--revision',
      'spend-only',
      '-o',
      out,
      '.',
    ],
    { cwd: src },
  );
  return new Uint8Array(await readFile(out));
}

/** A bundle built with opa's own capabilities, calling time.now_ns (a builtin the JS runtime lacks). */
export async function unsupportedBuiltinBundle(): Promise<Uint8Array> {
  const { writeFile } = await import('node:fs/promises');
  const src = await mkdtemp(join(tmpdir(), 'allowance-builtin-'));
  await writeFile(
    join(src, 'spend.rego'),
    'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []} if time.now_ns() > 0\n',
  );
  await writeFile(join(src, 'intent.rego'), ALLOW_INTENT);
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-builtin-out-')), 'bundle.tar.gz');
  await runOpa(
    [
      'build',
      '-t',
      'wasm',
      '-e',
      'allowance/spend/decision',
      '-e',
      'allowance/intent/decision',
      '--revision',
      'uses-time',
      '-o',
      out,
      '.',
    ],
    { cwd: src },
  );
  return new Uint8Array(await readFile(out));
}

/** A policy whose spend rule conflicts at evaluation: the WASM module aborts (traps). */
export function trappingBundle(): Promise<Uint8Array> {
  return bundleFrom(
    {
      'spend.rego':
        'package allowance.spend\n\n' +
        'decision := {"action": "ALLOW", "reasons": []} if input.request.amount > 0\n\n' +
        'decision := {"action": "DENY", "reasons": []} if input.request.amount > 1\n',
      'intent.rego': ALLOW_INTENT,
    },
    'traps',
  );
}
