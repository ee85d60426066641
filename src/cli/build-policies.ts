#!/usr/bin/env node
// Builds the default policy bundle: policies/ -> build/policies/bundle.tar.gz.
// Usage: node build/src/cli/build-policies.js [--revision <rev>] [--out <file>] [--source <dir>]
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { isPolicyError } from '../policy/errors.js';
import { buildPolicyBundle } from '../policy-build/index.js';

const { values } = parseArgs({
  options: { revision: { type: 'string' }, out: { type: 'string' }, source: { type: 'string' } },
});

try {
  const built = await buildPolicyBundle({ revision: values.revision, outFile: values.out, sourceDir: values.source });
  console.log(`policy bundle ${relative(process.cwd(), built.outFile)} revision ${built.revision}`);
} catch (err) {
  if (isPolicyError(err)) {
    const stderr = typeof err.details?.stderr === 'string' ? `\n${err.details.stderr.trim()}` : '';
    console.error(`build-policies: ${err.code}: ${err.message}${stderr}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
}
