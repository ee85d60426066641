// `allowance backup --out FILE`: a consistent copy of the SQLite store taken while servers keep running.
// Exit status: 0 written, 1 failed (nothing left at FILE), 2 usage or configuration error.
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../adapters/sqlite/index.js';

export const BACKUP_USAGE = `usage: allowance backup --out <file> [--db <file>]

Copies the SQLite store with SQLite's online backup API: servers may keep running and writing, the copy is
one consistent snapshot. The database is $ALLOWANCE_DATA_DIR/allowance.db (default ./data/allowance.db)
unless --db names it. The copy is written next to <file> and renamed into place when complete; an existing
<file> is never overwritten. Restore: stop the servers, replace the database file with the copy (and
remove its -wal and -shm files), start again with the same master and signing keys.

options:
  --out <file>  where to write the copy (must not exist)
  --db <file>   the database to copy (default: $ALLOWANCE_DATA_DIR/allowance.db)
  -h, --help    this help

exit status: 0 written, 1 failed, 2 usage error`;

export interface BackupIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

const processIo: BackupIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
};

export async function runBackupCommand(argv: string[], io: BackupIo = processIo): Promise<number> {
  let values: { out?: string; db?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, db: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`allowance backup: ${(err as Error).message}\n\n${BACKUP_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${BACKUP_USAGE}\n`);
    return 0;
  }
  if (!values.out) {
    io.err(`allowance backup: --out is required\n\n${BACKUP_USAGE}\n`);
    return 2;
  }
  const source = values.db ?? join(io.env.ALLOWANCE_DATA_DIR || './data', 'allowance.db');
  const target = values.out;
  if (!existsSync(source)) {
    io.err(`allowance backup: no database at ${source}\n`);
    return 1;
  }
  if (existsSync(target)) {
    io.err(`allowance backup: ${target} exists; it is never overwritten\n`);
    return 1;
  }
  const partial = join(dirname(target), `.${process.pid}.allowance-backup.partial`);
  try {
    const db = openDatabase(source, { readonly: true });
    try {
      const { totalPages } = await db.backup(partial);
      await rename(partial, target);
      io.out(`backup of ${source} written to ${target} (${totalPages} pages)\n`);
    } finally {
      db.close();
    }
    return 0;
  } catch (err) {
    await rm(partial, { force: true });
    io.err(`allowance backup: ${(err as Error).message}\n`);
    return 1;
  }
}
