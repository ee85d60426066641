#!/usr/bin/env node
// Runs the project's pinned opa. `test` runs the policy unit tests with coverage:
//   node build/src/cli/opa.js test [--coverage-min <percent>] [extra opa test args]
// prints per-file coverage and fails when the coverage of the policy files (tests
// excluded) is below the minimum. Any other command is passed to opa unchanged.
import { spawnSync } from 'node:child_process';
import { isPolicyError } from '../policy/errors.js';
import { findOpa, runOpa } from '../policy/opa-cli.js';
import { projectRoot } from '../policy/project-root.js';

interface Position {
  row: number;
}
interface Range {
  start: Position;
  end: Position;
}
interface FileCoverage {
  covered?: Range[];
  not_covered?: Range[];
  coverage?: number;
}
interface CoverageReport {
  files?: Record<string, FileCoverage>;
  coverage?: number;
}

const lines = (ranges: Range[] | undefined): number =>
  (ranges ?? []).reduce((sum, r) => sum + r.end.row - r.start.row + 1, 0);

function takeCoverageMin(args: string[]): { min: number; rest: string[] } {
  const rest: string[] = [];
  let min = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--coverage-min' || arg.startsWith('--coverage-min=')) {
      const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
      min = Number(raw);
      if (!Number.isFinite(min) || min < 0 || min > 100) throw new Error(`--coverage-min: not a percentage: ${raw}`);
    } else {
      rest.push(arg);
    }
  }
  return { min, rest };
}

async function test(args: string[]): Promise<number> {
  const { min, rest } = takeCoverageMin(args);
  const root = projectRoot();
  const base = ['test', 'policies', '--ignore', 'schemas', '--ignore', 'capabilities.json', ...rest];
  const run = await runOpa([...base, '--coverage', '--format', 'json'], { cwd: root, allowFailure: true });
  if (run.exitCode !== 0) {
    // The coverage report hides failures; rerun in the default format to show them.
    const plain = await runOpa(base, { cwd: root, allowFailure: true });
    process.stdout.write(plain.stdout);
    process.stderr.write(plain.stderr || run.stderr);
    return plain.exitCode || run.exitCode;
  }
  const report = JSON.parse(run.stdout) as CoverageReport;
  let covered = 0;
  let total = 0;
  for (const [file, cov] of Object.entries(report.files ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const c = lines(cov.covered);
    const n = c + lines(cov.not_covered);
    if (!file.endsWith('_test.rego')) {
      covered += c;
      total += n;
    }
    const pct = n === 0 ? 100 : (100 * c) / n;
    console.log(`${pct.toFixed(1).padStart(6)}%  ${file}`);
  }
  const policyPct = total === 0 ? 100 : (100 * covered) / total;
  console.log(`${policyPct.toFixed(1).padStart(6)}%  policies (tests excluded)`);
  console.log(`${(report.coverage ?? 0).toFixed(1).padStart(6)}%  total reported by opa`);
  if (policyPct < min) {
    console.error(`opa test: policy coverage ${policyPct.toFixed(1)}% is below the minimum of ${min}%`);
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
