import { runOpa } from './opa-cli.js';

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
}
interface CoverageReport {
  files?: Record<string, FileCoverage>;
  coverage?: number;
}

/** Options for {@link runPolicyTests}. */
export interface PolicyTestOptions {
  /** Folder opa test runs in. */
  cwd: string;
  /** Paths to load, relative to cwd. */
  paths: string[];
  /** Minimum line coverage (percent) of the policy files, tests excluded. */
  coverageMin: number;
  /** Extra arguments for opa test (`--ignore`, `--capabilities`, `--run`, …). */
  args?: string[];
}

/** Coverage of one file. */
export interface FileCoverageLine {
  file: string;
  covered: number;
  total: number;
  percent: number;
  test: boolean;
}

/** What {@link runPolicyTests} found. */
export interface PolicyTestResult {
  /** 0 when the tests passed and the coverage reached the minimum. */
  exitCode: number;
  /** opa's own output of a failed run (the failing tests, compile errors). */
  failureOutput: string;
  files: FileCoverageLine[];
  /** Line coverage of the policy files, tests excluded; null when the tests failed. */
  policyPercent: number | null;
  /** The total opa reported. */
  reportedPercent: number | null;
  /** True when the tests passed but the coverage is below the minimum. */
  belowMinimum: boolean;
}

const lines = (ranges: Range[] | undefined): number =>
  (ranges ?? []).reduce((sum, r) => sum + r.end.row - r.start.row + 1, 0);

/**
 * Runs `opa test --coverage` and computes the coverage of the policy files (tests excluded).
 * When the tests fail, reruns them in opa's default format, whose output names the failures
 * (the coverage report hides them).
 */
export async function runPolicyTests(options: PolicyTestOptions): Promise<PolicyTestResult> {
  const base = ['test', ...options.paths, ...(options.args ?? [])];
  const run = await runOpa([...base, '--coverage', '--format', 'json'], { cwd: options.cwd, allowFailure: true });
  if (run.exitCode !== 0) {
    const plain = await runOpa(base, { cwd: options.cwd, allowFailure: true });
    return {
      exitCode: plain.exitCode || run.exitCode,
      failureOutput: `${plain.stdout}${plain.stderr || run.stderr}`,
      files: [],
      policyPercent: null,
      reportedPercent: null,
      belowMinimum: false,
    };
  }
  const report = JSON.parse(run.stdout) as CoverageReport;
  const files: FileCoverageLine[] = [];
  let covered = 0;
  let total = 0;
  for (const [file, cov] of Object.entries(report.files ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const c = lines(cov.covered);
    const n = c + lines(cov.not_covered);
    const test = file.endsWith('_test.rego');
    if (!test) {
      covered += c;
      total += n;
    }
    files.push({ file, covered: c, total: n, percent: n === 0 ? 100 : (100 * c) / n, test });
  }
  const policyPercent = total === 0 ? 100 : (100 * covered) / total;
  const belowMinimum = policyPercent < options.coverageMin;
  return {
    exitCode: belowMinimum ? 1 : 0,
    failureOutput: '',
    files,
    policyPercent,
    reportedPercent: report.coverage ?? 0,
    belowMinimum,
  };
}

/** The coverage table printed by the CLIs, one line per file and two totals. */
export function coverageLines(result: PolicyTestResult, label = 'policies'): string[] {
  const out = result.files.map((f) => `${f.percent.toFixed(1).padStart(6)}%  ${f.file}`);
  out.push(`${(result.policyPercent ?? 0).toFixed(1).padStart(6)}%  ${label} (tests excluded)`);
  out.push(`${(result.reportedPercent ?? 0).toFixed(1).padStart(6)}%  total reported by opa`);
  return out;
}

/** Parses a coverage percentage option; throws a RangeError naming the option otherwise. */
export function parseCoveragePercent(raw: string | undefined, option = '--coverage-min'): number {
  const min = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(min) || min < 0 || min > 100) {
    throw new RangeError(`${option}: not a percentage: ${raw}`);
  }
  return min;
}
