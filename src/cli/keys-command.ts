// `allowance keys generate`: a master key (ALLOWANCE_MASTER_KEY) and an Ed25519 signing key
// (ALLOWANCE_SIGNING_KEY_FILE), printed or written to new files readable by their owner only.
// Exit status: 0 ok, 1 a file exists or cannot be written, 2 usage error.
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateSigningKey, signingKeyToPem } from '../crypto/index.js';

export const KEYS_USAGE = `usage: allowance keys generate [master|signing|all] [--out-dir <dir>]

Generates keys for a server (docs/operations.md: keys and rotation):
  master   32 random bytes as 64 hex digits: ALLOWANCE_MASTER_KEY (seals credential secrets, derives
           the session-token key; the same on every server, kept for as long as the data)
  signing  an Ed25519 private key, PKCS#8 PEM: ALLOWANCE_SIGNING_KEY_FILE (signs decisions, mandates,
           agent tokens and audit checkpoints; its kid is the RFC 7638 thumbprint)
  all      both (the default)

Without --out-dir the keys go to standard output. With it they are written to <dir>/master.key and
<dir>/signing-key.pem, created with mode 0600 and never overwritten; the environment to set is printed.

options:
  --out-dir <dir>  write files instead of printing (the folder must exist)
  -h, --help       this help

exit status: 0 ok, 1 a file exists or cannot be written, 2 usage error`;

export interface KeysIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: KeysIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Writes a new file with mode 0600; fails if it exists. */
async function writeSecretFile(path: string, content: string): Promise<void> {
  const file = await open(path, 'wx', 0o600);
  try {
    await file.writeFile(content);
    await file.chmod(0o600); // whatever the umask
  } finally {
    await file.close();
  }
}

export async function runKeysCommand(argv: string[], io: KeysIo = processIo): Promise<number> {
  let parsed: { values: { 'out-dir'?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { 'out-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    io.err(`allowance keys: ${(err as Error).message}\n\n${KEYS_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') {
    io.out(`${KEYS_USAGE}\n`);
    return 0;
  }
  const [command, kind = 'all', ...extra] = positionals;
  if (command !== 'generate' || !['master', 'signing', 'all'].includes(kind) || extra.length > 0) {
    io.err(
      `allowance keys: ${command === undefined ? 'no command given' : `unexpected ${positionals.join(' ')}`}\n\n${KEYS_USAGE}\n`,
    );
    return 2;
  }
  const master = kind !== 'signing' ? randomBytes(32).toString('hex') : null;
  const signing = kind !== 'master' ? generateSigningKey() : null;
  const outDir = values['out-dir'];
  if (outDir === undefined) {
    if (master !== null) io.out(`ALLOWANCE_MASTER_KEY=${master}\n`);
    if (signing !== null) io.out(`# signing key, kid ${signing.kid}\n${signingKeyToPem(signing)}`);
    return 0;
  }
  const files: Array<{ path: string; content: string; env: string }> = [];
  if (master !== null) {
    const path = join(outDir, 'master.key');
    files.push({ path, content: `${master}\n`, env: `ALLOWANCE_MASTER_KEY="$(cat ${path})"` });
  }
  if (signing !== null) {
    const path = join(outDir, 'signing-key.pem');
    files.push({
      path,
      content: signingKeyToPem(signing),
      env: `ALLOWANCE_SIGNING_KEY_FILE=${path}   # kid ${signing.kid}`,
    });
  }
  const created: string[] = [];
  try {
    for (const f of files) {
      await writeSecretFile(f.path, f.content);
      created.push(f.path);
    }
  } catch (err) {
    // All or nothing: a key written before the failure is removed again.
    for (const path of created) await unlink(path).catch(() => {});
    const e = err as NodeJS.ErrnoException;
    io.err(`allowance keys: ${e.code === 'EEXIST' ? `${e.path} exists; it is never overwritten` : e.message}\n`);
    return 1;
  }
  io.out(`${files.map((f) => f.env).join('\n')}\n`);
  return 0;
}
