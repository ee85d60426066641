import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** base64url SHA-256 of a UTF-8 string. */
export function sha256Base64Url(data: string): string {
  return createHash('sha256').update(data).digest('base64url');
}
