import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { runOpa } from '../../src/policy-build/index.js';
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
  entries: { name: string; type?: 'file' | 'symlink' | 'link'; linkname?: string; data?: string | Uint8Array }[],
) {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((ok) => p.on('end', () => ok()));
  for (const e of entries) {
    if (e.type === 'symlink' || e.type === 'link') {
      p.entry({ name: e.name, type: e.type, linkname: e.linkname ?? 'x' });
    } else {
      p.entry(
        { name: e.name },
        typeof e.data === 'string' || e.data === undefined ? (e.data ?? '') : Buffer.from(e.data),
      );
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

/**
 * A hand-made WASM module exporting `opa_json_dump`, `builtins` and `entrypoints`, where `builtins` never
 * returns: what an uploader could send instead of a module built by opa.
 */
export function loopingWasm(): Uint8Array {
  const name = (s: string) => [s.length, ...Buffer.from(s)];
  const section = (id: number, content: number[]) => [id, content.length, ...content];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    // types: () -> i32, (i32) -> i32
    ...section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f]),
    // functions: dump (i32) -> i32, builtins () -> i32, entrypoints () -> i32
    ...section(3, [3, 1, 0, 0]),
    ...section(7, [3, ...name('opa_json_dump'), 0, 0, ...name('builtins'), 0, 1, ...name('entrypoints'), 0, 2]),
    ...section(10, [
      3,
      ...[4, 0, 0x41, 0, 0x0b],
      // loop { br 0 } i32.const 0
      ...[9, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x41, 0, 0x0b],
      ...[4, 0, 0x41, 0, 0x0b],
    ]),
  ]);
}

/** A bundle built and signed by opa (`--bundle --signing-key`, RS256) with its PEM public key. */
export async function signedBundle(revision: string): Promise<{ bytes: Uint8Array; publicKey: string }> {
  const { generateKeyPairSync } = await import('node:crypto');
  const { writeFile } = await import('node:fs/promises');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = await mkdtemp(join(tmpdir(), 'allowance-signing-'));
  const keyFile = join(keys, 'private.pem');
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const src = await mkdtemp(join(tmpdir(), 'allowance-signed-'));
  await writeFile(
    join(src, 'spend.rego'),
    'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  );
  await writeFile(join(src, 'intent.rego'), ALLOW_INTENT);
  await writeFile(join(src, 'data.json'), JSON.stringify({ vendors: { b: 2, a: 1 } }, null, 2));
  const out = join(await mkdtemp(join(tmpdir(), 'allowance-signed-out-')), 'bundle.tar.gz');
  await runOpa(
    [
      'build',
      '-b',
      '-t',
      'wasm',
      '--capabilities',
      join(POLICY_DIR, 'capabilities.json'),
      '-e',
      'allowance/spend/decision',
      '-e',
      'allowance/intent/decision',
      '--revision',
      revision,
      '--signing-key',
      keyFile,
      '--signing-alg',
      'RS256',
      '-o',
      out,
      '.',
    ],
    { cwd: src },
  );
  return {
    bytes: new Uint8Array(await readFile(out)),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
