/**
 * A second process on a SQLite file that takes its write lock (`BEGIN IMMEDIATE`), prints `locked`, and
 * holds it until a line arrives on stdin, then commits and exits. For tests of what another process's
 * lock does to a server on the same file.
 */
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

const path = process.argv[2];
if (!path) throw new Error('sqlite-lock-holder: the database file is missing');
const db = new Database(path, { fileMustExist: true });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((ok) => lines.once('line', () => ok()));
lines.close();
db.exec('COMMIT');
db.close();
