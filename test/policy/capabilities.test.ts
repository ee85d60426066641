import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isPolicyError } from '../../src/policy/errors.js';
import { projectRoot } from '../../src/util/project-root.js';
import { bundleFrom, POLICY_DIR } from '../support/policy-bundle.js';

const names = (): Set<string> => {
  const caps = JSON.parse(readFileSync(join(POLICY_DIR, 'capabilities.json'), 'utf8')) as {
    builtins: { name: string }[];
  };
  return new Set(caps.builtins.map((b) => b.name));
};

const s = suite('capabilities');

s('lists only builtins the WASM module or the JS SDK implement', () => {
  const builtins = names();
  for (const name of ['plus', 'count', 'internal.member_2', 'object.union', 'sprintf', 'regex.split']) {
    assert.ok(builtins.has(name), `${name} should be allowed`);
  }
  for (const name of builtins) {
    assert.not.match(
      name,
      /^(time\.|crypto\.|io\.jwt\.|units\.|semver\.|http\.|net\.lookup|opa\.runtime|rand\.|uuid\.)/,
    );
  }
});

s('is what the committed generator produces', async () => {
  const script = join(projectRoot(), 'scripts', 'gen-capabilities.mjs');
  const { stdout } = await promisify(execFile)(process.execPath, [script, '--check']);
  assert.match(stdout, 'up to date');
});

s('a policy calling time.now_ns fails the build', async () => {
  const err = await bundleFrom({
    'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": [], "t": time.now_ns()}\n',
    'intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isPolicyError(err, 'policy_build_failed'), 'expected policy_build_failed');
  assert.match((err as Error).message, 'time.now_ns');
});

s('a policy calling crypto.sha256 fails the build', async () => {
  const err = await bundleFrom({
    'spend.rego': 'package allowance.spend\n\ndecision := {"action": "ALLOW", "reasons": [crypto.sha256("x")]}\n',
    'intent.rego': 'package allowance.intent\n\ndecision := {"action": "ALLOW", "reasons": []}\n',
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isPolicyError(err, 'policy_build_failed'), 'expected policy_build_failed');
});

s.run();
