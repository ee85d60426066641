#!/usr/bin/env node
// Verifies an audit export offline: nothing but the file (and, to prove who wrote it, the public JWKS).
// Usage: node build/src/cli/audit.js verify <export-file> [--jwks <jwks.json>] [--json]
// (also `allowance audit verify …`). Exit status: 0 intact; 1 tampered, truncated or not signed by a
// key of the JWKS; 2 usage or format error.
import { runAuditCommand } from './audit-command.js';

runAuditCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`audit: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
