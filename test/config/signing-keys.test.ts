import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig, loadSigningKeys } from '../../src/config/index.js';
import { createJwsSigner, generateSigningKey, signingKeyToPem, toJwks, verifyJws } from '../../src/crypto/index.js';

const keys = suite('signing keys and rotation');

async function pemFile(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

keys('the current key signs; previous keys stay in the JWKS so earlier proofs verify', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-keys-'));
  const old = generateSigningKey();
  const next = generateSigningKey();
  const oldProof = createJwsSigner(old)({ decision_id: 'dec_1', action: 'ALLOW' });
  const loaded = await loadSigningKeys({
    signingKeyFile: await pemFile(dir, 'next.pem', signingKeyToPem(next)),
    previousSigningKeyFiles: [await pemFile(dir, 'old.pem', signingKeyToPem(old))],
  });
  assert.is(loaded.ephemeral, false);
  assert.equal(
    loaded.keys.map((k) => k.kid),
    [next.kid, old.kid],
  );
  const jwks = toJwks(loaded.keys);
  assert.ok(verifyJws(oldProof, jwks).ok, 'a proof of the previous key still verifies');
  const newProof = createJwsSigner(loaded.keys[0] as (typeof loaded.keys)[number])({ decision_id: 'dec_2' });
  const v = verifyJws(newProof, jwks);
  assert.ok(v.ok && v.kid === next.kid, 'the current key signs');
});

keys('unreadable or wrong key files are configuration errors naming the variable', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-keys-'));
  const missing = await loadSigningKeys({ signingKeyFile: join(dir, 'nope.pem'), previousSigningKeyFiles: [] }).catch(
    (e) => e,
  );
  assert.ok(missing instanceof ConfigError);
  assert.match(missing.message, /ALLOWANCE_SIGNING_KEY_FILE/);
  const garbage = await pemFile(dir, 'garbage.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  const bad = await loadSigningKeys({
    signingKeyFile: await pemFile(dir, 'ok.pem', signingKeyToPem(generateSigningKey())),
    previousSigningKeyFiles: [garbage],
  }).catch((e) => e);
  assert.ok(bad instanceof ConfigError);
  assert.match(bad.message, /ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES/);
  assert.throws(
    () => loadConfig({ ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES: '/keys/old.pem' }),
    (e: unknown) => e instanceof ConfigError,
  );
  const none = await loadSigningKeys({ signingKeyFile: null, previousSigningKeyFiles: [] });
  assert.is(none.ephemeral, true);
  assert.is(none.keys.length, 1);
});

keys.run();
