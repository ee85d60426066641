import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isPolicyError } from '../../src/policy/errors.js';
import { buildPolicyBundle, contentHash, findOpa, policyRevision } from '../../src/policy-build/index.js';
import { POLICY_DIR } from '../support/policy-bundle.js';

const s = suite('build');

s('refuses to write the bundle inside the policy folder', async () => {
  const err = await buildPolicyBundle({ outFile: join(POLICY_DIR, 'bundle.tar.gz'), revision: 'x' }).catch(
    (e: unknown) => e,
  );
  assert.ok(isPolicyError(err, 'policy_build_failed'));
});

s('outside git the revision is dev- plus a content hash', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-rev-'));
  await writeFile(join(dir, 'a.rego'), 'package a\n');
  const revision = await policyRevision(dir);
  assert.is(revision, `dev-${(await contentHash(dir)).slice(0, 12)}`);
  await writeFile(join(dir, 'a.rego'), 'package b\n');
  assert.is.not(await policyRevision(dir), revision);
});

s('a missing opa binary is opa_not_found', async () => {
  const root = await mkdtemp(join(tmpdir(), 'allowance-noopa-'));
  const path = process.env.PATH;
  process.env.PATH = root;
  try {
    findOpa(root);
    assert.unreachable('expected opa_not_found');
  } catch (err) {
    assert.ok(isPolicyError(err, 'opa_not_found'));
  } finally {
    process.env.PATH = path;
  }
});

s.run();
