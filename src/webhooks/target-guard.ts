import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AppError } from '../errors/index.js';

/**
 * Where a webhook may point. Refused unless configured otherwise: any scheme but https (http with
 * `allowHttp`), and any host that resolves to an address that is not public unicast (with `allowPrivate`
 * every address is accepted). The check runs at registration and again before every attempt, and the
 * attempt connects to the very address that was checked, so a DNS answer that changes in between
 * (rebinding) cannot reach an internal address.
 */
export interface TargetPolicy {
  allowPrivate: boolean;
  allowHttp: boolean;
  /** Resolves a host name to every address it has. Default: the system resolver (`dns.lookup`, all). */
  resolve?: HostResolver;
}

/** Every address of a host name, as `dns.lookup(host, {all: true})` gives them. */
export type HostResolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** A URL whose host was resolved and checked: connect to `address`, present `url.hostname` (TLS, Host). */
export interface CheckedTarget {
  url: URL;
  /** The host name without IPv6 brackets. */
  host: string;
  address: string;
  family: 4 | 6;
}

const systemResolver: HostResolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

function urlProblem(message: string): AppError {
  return new AppError('validation_failed', `/url ${message}`, {
    details: [{ path: '/url', message, keyword: 'url' }],
  });
}

/**
 * Parses a webhook URL and checks what can be checked without DNS: absolute, https (or http when allowed),
 * a host, no user name or password, no fragment. Throws `validation_failed` naming `/url`.
 */
export function parseWebhookUrl(raw: string, policy: Pick<TargetPolicy, 'allowHttp'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw urlProblem('must be an absolute URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw urlProblem(policy.allowHttp ? 'must use https or http' : 'must use https');
  }
  if (url.username !== '' || url.password !== '') throw urlProblem('must not contain a user name or password');
  if (url.hash !== '' || raw.includes('#')) throw urlProblem('must not contain a fragment');
  if (hostOf(url) === '') throw urlProblem('must name a host');
  return url;
}

/** The host of a URL without the brackets of an IPv6 literal. */
export function hostOf(url: URL): string {
  const h = url.hostname;
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/**
 * Resolves the URL's host (an IP literal is taken as is) and checks every address. Throws
 * `webhook_target_forbidden` when one is not public (unless `allowPrivate`), `webhook_target_unresolvable`
 * when the name has no address. Returns the first address, to connect to.
 */
export async function checkWebhookTarget(url: URL, policy: TargetPolicy): Promise<CheckedTarget> {
  const host = hostOf(url);
  let addresses: { address: string; family: number }[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(host);
    } catch (err) {
      throw new AppError('webhook_target_unresolvable', `the host ${host} does not resolve`, { cause: err });
    }
    if (addresses.length === 0) throw new AppError('webhook_target_unresolvable', `the host ${host} does not resolve`);
  }
  if (!policy.allowPrivate) {
    for (const a of addresses) {
      const kind = classifyAddress(a.address);
      if (kind !== 'public') {
        const via = a.address === host ? '' : ` (${host} resolves to it)`;
        throw new AppError('webhook_target_forbidden', `${a.address} is not a public address (${kind})${via}`, {
          details: { address: a.address, kind },
        });
      }
    }
  }
  const first = addresses[0] as { address: string; family: number };
  return { url, host, address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** What an address is: `public` unicast, or why a webhook may not reach it. */
export type AddressKind =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'shared'
  | 'unique_local'
  | 'multicast'
  | 'documentation'
  | 'reserved'
  | 'invalid';

type V4Range = [base: number, bits: number, kind: AddressKind];

function v4(text: string): number {
  return parseIPv4(text) as number;
}

/** Every IPv4 range that is not public unicast (IANA special-purpose registry), with what it is. */
const V4_RANGES: V4Range[] = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'shared'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link_local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.0.2.0'), 24, 'documentation'],
  [v4('192.88.99.0'), 24, 'reserved'],
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'],
  [v4('198.51.100.0'), 24, 'documentation'],
  [v4('203.0.113.0'), 24, 'documentation'],
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'],
];

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or null. */
export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

/** An IPv6 address (optionally with a zone and an embedded dotted quad) as 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const words: number[] = [];
  const tail: number[] = [];
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseHalf = (half: string, into: number[], last: boolean): boolean => {
    if (half === '') return true;
    const groups = half.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (last && i === groups.length - 1 && g.includes('.')) {
        const quad = parseIPv4(g);
        if (quad === null) return false;
        into.push(Math.floor(quad / 65536), quad % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
        into.push(Number.parseInt(g, 16));
      }
    }
    return true;
  };
  if (halves.length === 2) {
    if (!parseHalf(halves[0] as string, words, false) || !parseHalf(halves[1] as string, tail, true)) return null;
    if (words.length + tail.length > 7) return null;
    while (words.length + tail.length < 8) words.push(0);
    words.push(...tail);
  } else {
    if (!parseHalf(s, words, true) || words.length !== 8) return null;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

function classifyV4(n: number): AddressKind {
  for (const [base, bits, kind] of V4_RANGES) {
    const size = 2 ** (32 - bits);
    if (n >= base && n < base + size) return kind;
  }
  return 'public';
}

function startsWith(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if (((bytes[byte] as number) & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

function embeddedV4(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at] as number) * 16_777_216 +
    (bytes[at + 1] as number) * 65_536 +
    (bytes[at + 2] as number) * 256 +
    (bytes[at + 3] as number)
  );
}

function classifyV6(b: Uint8Array): AddressKind {
  const zero = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zero(0, 16)) return 'unspecified';
  if (zero(0, 15) && b[15] === 1) return 'loopback';
  // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d reach the IPv4 address they carry.
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return classifyV4(embeddedV4(b, 12));
  if (startsWith(b, [0x00, 0x64, 0xff, 0x9b], 96)) return classifyV4(embeddedV4(b, 12));
  if (startsWith(b, [0xff], 8)) return 'multicast';
  if (startsWith(b, [0xfe, 0x80], 10)) return 'link_local';
  if (startsWith(b, [0xfe, 0xc0], 10)) return 'private';
  if (startsWith(b, [0xfc], 7)) return 'unique_local';
  // Only global unicast 2000::/3 is public, less its special-purpose blocks.
  if (!startsWith(b, [0x20], 3)) return 'reserved';
  if (startsWith(b, [0x20, 0x01, 0x0d, 0xb8], 32)) return 'documentation';
  if (startsWith(b, [0x3f, 0xff], 20)) return 'documentation';
  if (startsWith(b, [0x20, 0x01, 0x00, 0x00], 23)) return 'reserved';
  if (startsWith(b, [0x20, 0x02], 16)) return 'reserved';
  return 'public';
}

/** What an IP address is; `invalid` for text that is not one. */
export function classifyAddress(address: string): AddressKind {
  if (isIP(address) === 4) {
    const n = parseIPv4(address);
    return n === null ? 'invalid' : classifyV4(n);
  }
  const bytes = parseIPv6(address);
  return bytes ? classifyV6(bytes) : 'invalid';
}
