import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing of short secrets under a 32-byte master key. The associated data (a key id) binds a
 * ciphertext to its row, so a ciphertext copied onto another credential does not open.
 *
 * A sealed value names the master key that sealed it (`v2.<key id>.<iv>.<ciphertext>.<tag>`, the key id
 * derived from the key, never the key), so the master key can be rotated: the current key seals, the
 * previous keys still open what they sealed. Values sealed before key ids existed (`v1.<iv>.<ct>.<tag>`)
 * are tried with every key, current first.
 */
export interface SecretBox {
  seal(plaintext: string, associatedData: string): string;
  /** The plaintext, or throws when the ciphertext, key or associated data do not match. */
  open(sealed: string, associatedData: string): string;
}

interface SealingKey {
  id: string;
  key: Buffer;
}

function sealingKey(masterKey: Buffer): SealingKey {
  if (masterKey.length !== 32) throw new TypeError('the master key must be 32 bytes');
  return {
    key: Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'allowance credential secrets v1', 32)),
    id: masterKeyId(masterKey),
  };
}

/** The public id of a master key: 6 bytes derived from it (base64url), never enough to recover it. */
export function masterKeyId(masterKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'allowance master key id v1', 6)).toString(
    'base64url',
  );
}

function decrypt(key: Buffer, iv: string, ct: string, tag: string, associatedData: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(associatedData));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
}

/** A {@link SecretBox} sealing under `masterKey` (32 bytes) and opening under it or any of `previousKeys`. */
export function createSecretBox(masterKey: Buffer, previousKeys: readonly Buffer[] = []): SecretBox {
  const current = sealingKey(masterKey);
  const all = [current, ...previousKeys.map(sealingKey).filter((k) => k.id !== current.id)];
  const byId = new Map(all.map((k) => [k.id, k]));
  return {
    seal(plaintext, associatedData) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(associatedData));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `v2.${current.id}.${iv.toString('base64url')}.${ct.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
    },
    open(sealed, associatedData) {
      const parts = sealed.split('.');
      if (parts[0] === 'v2' && parts.length === 5) {
        const [, id, iv, ct, tag] = parts as [string, string, string, string, string];
        const k = byId.get(id);
        if (!k) throw new Error(`the secret was sealed with master key ${id}, which is not configured`);
        return decrypt(k.key, iv, ct, tag, associatedData);
      }
      if (parts[0] === 'v1' && parts.length === 4) {
        const [, iv, ct, tag] = parts as [string, string, string, string];
        let last: unknown;
        for (const k of all) {
          try {
            return decrypt(k.key, iv, ct, tag, associatedData);
          } catch (err) {
            last = err;
          }
        }
        throw last;
      }
      throw new Error('unknown sealed secret format');
    },
  };
}

/** A key derived from the master key for another purpose (e.g. signing session tokens). */
export function deriveKey(masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), purpose, 32));
}
