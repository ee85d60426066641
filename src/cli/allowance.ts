#!/usr/bin/env node
// The `allowance` command line: `serve` (the HTTP server), `demo` (the whole story against a throw-away
// server), `keys generate`, `policy …` (test, build, push and the policy lifecycle on a server) and
// `audit verify …` (offline verification of an audit export), `backup` (a copy of the SQLite store).
// Exit status: 0 ok, 1 the operation failed, 2 usage or configuration error, 3 server or network error.
import { setTimeout as sleep } from 'node:timers/promises';
import { runAuditCommand } from './audit-command.js';
import { runBackupCommand } from './backup-command.js';
import { runDemoCommand } from './demo-command.js';
import { runKeysCommand } from './keys-command.js';
import { runPolicyCommand } from './policy-command.js';
import { runServeCommand } from './serve-command.js';

const USAGE = `usage: allowance <command> [options]

commands:
  serve    start the HTTP API (configured by the environment; what \`npm start\` runs)
  demo     start a throw-away server and walk through org, agent, authority, binding, authorize, proof
  keys     generate a master key and an Ed25519 signing key (allowance keys generate [master|signing])
  policy   test, build and push a policy repository; status, shadow, replay, promote, rollback, retire
  audit    verify an audit export offline (allowance audit verify <file> [--jwks <jwks.json>])
  backup   copy the SQLite store while it runs (allowance backup --out <file>)

Run \`allowance <command> --help\` for its options.
exit status: 0 ok, 1 the operation failed, 2 usage or configuration error, 3 server or network error.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      // Whatever a store or a client library may leave open, a stopped server ends the process.
      process.exit(await runServeCommand(rest));
      break;
    case 'demo':
      return runDemoCommand(rest);
    case 'keys':
      return runKeysCommand(rest);
    case 'policy':
      return runPolicyCommand(rest, {
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
        env: process.env,
        sleep: (ms) => sleep(ms),
      });
    case 'audit':
      return runAuditCommand(rest);
    case 'backup':
      return runBackupCommand(rest);
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`${command === undefined ? '' : `allowance: unknown command ${command}\n\n`}${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`allowance: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
