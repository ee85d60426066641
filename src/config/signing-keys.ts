import { readFile } from 'node:fs/promises';
import { generateSigningKey, type SigningKey, signingKeyFromPem } from '../crypto/index.js';
import { ConfigError } from './config.js';

async function readKey(variable: string, file: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return signingKeyFromPem(pem);
  } catch {
    throw new ConfigError(`${variable}: ${file} is not a PKCS#8 PEM Ed25519 private key`);
  }
}

/**
 * The signing keys of the server: the current key first (it signs), then the previous ones (published
 * in the JWKS only). With no key file, one key generated for this process (`ephemeral`).
 */
export async function loadSigningKeys(config: {
  signingKeyFile: string | null;
  previousSigningKeyFiles: string[];
}): Promise<{ keys: SigningKey[]; ephemeral: boolean }> {
  if (config.signingKeyFile === null) return { keys: [generateSigningKey()], ephemeral: true };
  const current = await readKey('ALLOWANCE_SIGNING_KEY_FILE', config.signingKeyFile);
  const keys = [current];
  for (const file of config.previousSigningKeyFiles) {
    const key = await readKey('ALLOWANCE_PREVIOUS_SIGNING_KEY_FILES', file);
    if (!keys.some((k) => k.kid === key.kid)) keys.push(key);
  }
  return { keys, ephemeral: false };
}
