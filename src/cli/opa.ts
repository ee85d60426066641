#!/usr/bin/env node
// Runs the project's pinned opa. `test` runs the policy unit tests with coverage:
//   node build/src/cli/opa.js test [--coverage-min <percent>] [extra opa test args]
// prints per-file coverage and fails when the coverage of the policy files (tests
// excluded) is below the minimum. Any other command is passed to opa unchanged.
import { spawnSync } from 'node:child_process';
import { isPolicyError } from '../policy/errors.js';
import { coverageLines, findOpa, parseCoveragePercent, runPolicyTests } from '../policy-build/index.js';
import { projectRoot } from '../util/project-root.js';

function takeCoverageMin(args: string[]): { min: number; rest: string[] } {
  const rest: string[] = [];
  let min = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--coverage-min' || arg.startsWith('--coverage-min=')) {
      min = parseCoveragePercent(arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i]);
    } else {
      rest.push(arg);
    }
  }
  return { min, rest };
}

async function test(args: string[]): Promise<number> {
  const { min, rest } = takeCoverageMin(args);
  const result = await runPolicyTests({
    cwd: projectRoot(),
    paths: ['policies'],
    coverageMin: min,
    args: ['--ignore', 'schemas', '--ignore', 'capabilities.json', ...rest],
  });
  if (result.policyPercent === null) {
    process.stdout.write(result.failureOutput);
    return result.exitCode;
  }
  for (const line of coverageLines(result)) console.log(line);
  if (result.belowMinimum) {
    console.error(`opa test: policy coverage ${result.policyPercent.toFixed(1)}% is below the minimum of ${min}%`);
    return 1;
  }
  return 0;
}

function passThrough(args: string[]): number {
  const result = spawnSync(findOpa(), args, { stdio: 'inherit', cwd: process.cwd() });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

const args = process.argv.slice(2);
try {
  process.exitCode = args[0] === 'test' ? await test(args.slice(1)) : passThrough(args);
} catch (err) {
  console.error(isPolicyError(err) ? `opa: ${err.code}: ${err.message}` : err);
  process.exitCode = 1;
}
