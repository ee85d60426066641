import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningKey, signingKeyToPem } from '../crypto/signing-keys.js';
import { ConfigError, type ServerConfig } from './config.js';

/** File names of the keys generated into the data directory. */
export const DATA_DIR_MASTER_KEY = 'master.key';
export const DATA_DIR_SIGNING_KEY = 'signing-key.pem';

/**
 * Writes `content` to `path` (mode 0600) only when no file is there: written to a temporary file first and
 * hard-linked into place, so a crash never leaves a half-written key and, of two servers starting at once,
 * one key wins and both use it. Returns false when the file existed.
 */
async function createOnce(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(content);
    await file.chmod(0o600); // whatever the umask
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * For a durable store (SQLite) without configured keys: a master key and a signing key generated once into
 * the data directory and read from there on every start, so a restart keeps credentials usable and proofs
 * verifiable. Configured keys (ALLOWANCE_MASTER_KEY, ALLOWANCE_SIGNING_KEY_FILE) always win; other stores
 * are left as they are. Returns the configuration to run with and the paths of the files created now.
 */
export async function ensureDataDirKeys(config: ServerConfig): Promise<{ config: ServerConfig; created: string[] }> {
  if (config.store !== 'sqlite' || (!config.masterKeyEphemeral && config.signingKeyFile !== null)) {
    return { config, created: [] };
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  let next = config;
  if (config.masterKeyEphemeral) {
    const path = join(config.dataDir, DATA_DIR_MASTER_KEY);
    if (await createOnce(path, `${randomBytes(32).toString('hex')}\n`)) created.push(path);
    const hex = (await readFile(path, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new ConfigError(`${path} is not a master key (64 hex digits)`);
    next = { ...next, masterKey: Buffer.from(hex, 'hex'), masterKeyEphemeral: false };
  }
  if (config.signingKeyFile === null) {
    const path = join(config.dataDir, DATA_DIR_SIGNING_KEY);
    if (await createOnce(path, signingKeyToPem(generateSigningKey()))) created.push(path);
    next = { ...next, signingKeyFile: path };
  }
  return { config: next, created };
}
