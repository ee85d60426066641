#!/usr/bin/env node
// Starts the Allowance HTTP server, as `allowance serve` does (src/cli/serve-command.ts).
// Usage: node build/src/cli/server.js [--port <n>] [--host <address>]
import { runServeCommand } from './serve-command.js';

process.exit(await runServeCommand(process.argv.slice(2)));
