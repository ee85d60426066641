import { PolicyError } from './errors.js';

const BLOCK = 512;

/** One regular file from a tar archive. */
export interface TarEntry {
  /** Path without a leading `/` or `./`. */
  name: string;
  data: Uint8Array;
}

const decoder = new TextDecoder();

function invalid(message: string): PolicyError {
  return new PolicyError('bundle_invalid', `bundle archive: ${message}`);
}

function text(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const raw = text(block, offset, length).trim();
  if (!/^[0-7]*$/.test(raw)) throw invalid('bad numeric header field');
  return raw === '' ? 0 : Number.parseInt(raw, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === octal(block, 148, 8);
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function paxPath(data: Uint8Array): string | undefined {
  let path: string | undefined;
  for (const record of decoder.decode(data).split('\n')) {
    const match = /^\d+ path=(.*)$/s.exec(record);
    if (match) path = match[1];
  }
  return path;
}

function cleanName(name: string): string {
  return name.replace(/^(\.?\/)+/, '');
}

/**
 * Reads the regular files of an uncompressed tar archive (ustar, with pax and GNU
 * long-name extensions). Throws `bundle_invalid` on a truncated or corrupt archive.
 */
export function readTar(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (isZero(header)) return entries;
    if (!checksumOk(header)) throw invalid('header checksum mismatch');
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] as number);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw invalid('truncated entry');
    const data = archive.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'L') {
      longName = type === 'x' ? paxPath(data) : text(data, 0, data.length);
      continue;
    }
    if (type === 'g') continue;
    let name = text(header, 0, 100);
    if (text(header, 257, 5) === 'ustar') {
      const prefix = text(header, 345, 155);
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    longName = undefined;
    if (type === '0' || type === '\0') entries.push({ name: cleanName(name), data });
  }
  if (offset === 0) throw invalid('empty archive');
  return entries;
}
