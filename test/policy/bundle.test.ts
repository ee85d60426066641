import { gzipSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readPolicyBundle } from '../../src/policy/bundle.js';
import { isPolicyError, type PolicyErrorCode } from '../../src/policy/errors.js';
import { readTar } from '../../src/policy/tar.js';
import { defaultBundle, TEST_REVISION } from '../support/policy-bundle.js';

function header(name: string, size: number, type = '0'): Uint8Array {
  const block = new Uint8Array(512);
  const put = (offset: number, text: string) => block.set(new TextEncoder().encode(text), offset);
  put(0, name);
  put(100, '0000644\0');
  put(124, `${size.toString(8).padStart(11, '0')}\0`);
  put(156, type);
  put(257, 'ustar\x0000');
  block.fill(0x20, 148, 156);
  const sum = block.reduce((a, b) => a + b, 0);
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function tar(files: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    parts.push(header(name, data.length));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    parts.push(padded);
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

function code(fn: () => unknown): PolicyErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    return isPolicyError(err) ? err.code : undefined;
  }
  return undefined;
}

const WASM = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);

const s = suite('bundle');

s('reads the built bundle', async () => {
  const bundle = readPolicyBundle(await defaultBundle());
  assert.is(bundle.manifest.revision, TEST_REVISION);
  assert.equal(bundle.data, {});
  assert.equal(bundle.wasm.subarray(0, 4), WASM.subarray(0, 4));
  assert.equal(
    bundle.manifest.wasm?.map((w) => w.entrypoint),
    ['allowance/spend/decision', 'allowance/intent/decision'],
  );
});

s('merges nested data documents', () => {
  const bundle = readPolicyBundle(
    gzipSync(
      tar({
        '/.manifest': '{"revision":"r1"}',
        '/policy.wasm': WASM,
        '/data.json': '{"a":1}',
        '/limits/eu/data.json': '{"max":5}',
      }),
    ),
  );
  assert.equal(bundle.data, { a: 1, limits: { eu: { max: 5 } } });
  assert.is(bundle.manifest.revision, 'r1');
});

s('rejects malformed bundles with bundle_invalid', () => {
  assert.is(
    code(() => readPolicyBundle(new Uint8Array([1, 2, 3]))),
    'bundle_invalid',
  );
  assert.is(
    code(() => readPolicyBundle(gzipSync(Buffer.from('not a tar archive at all')))),
    'bundle_invalid',
  );
  assert.is(
    code(() => readPolicyBundle(gzipSync(tar({ '/policy.wasm': WASM })))),
    'bundle_invalid',
  );
  assert.is(
    code(() => readPolicyBundle(gzipSync(tar({ '/.manifest': '{"revision":"r"}' })))),
    'bundle_invalid',
  );
  assert.is(
    code(() => readPolicyBundle(gzipSync(tar({ '/.manifest': '{}', '/policy.wasm': WASM })))),
    'bundle_invalid',
  );
  assert.is(
    code(() => readPolicyBundle(gzipSync(tar({ '/.manifest': '{"revision":"r"}', '/policy.wasm': 'text!!!!' })))),
    'bundle_invalid',
  );
  assert.is(
    code(() =>
      readPolicyBundle(gzipSync(tar({ '/.manifest': '{"revision":"r"}', '/policy.wasm': WASM, '/data.json': '[1]' }))),
    ),
    'bundle_invalid',
  );
});

s('tar: detects corrupt headers and truncation', () => {
  const archive = tar({ 'a.txt': 'hello' });
  assert.equal(
    readTar(archive).map((e) => e.name),
    ['a.txt'],
  );
  const corrupt = archive.slice();
  corrupt[0] = 0x62;
  assert.is(
    code(() => readTar(corrupt)),
    'bundle_invalid',
  );
  assert.is(
    code(() => readTar(archive.subarray(0, 515))),
    'bundle_invalid',
  );
});

s.run();
