import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
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

/**
 * ipaddr.js's names of the IPv4 special-purpose ranges, as kinds. Only `unicast` (no special range) is
 * public: the anycast ranges (AS112, AMT) are refused too, and a name missing here (a range a later
 * ipaddr.js adds) is `reserved`, refused.
 */
const V4_KINDS: Readonly<Record<string, AddressKind>> = {
  unicast: 'public',
  unspecified: 'unspecified',
  broadcast: 'reserved',
  multicast: 'multicast',
  linkLocal: 'link_local',
  loopback: 'loopback',
  carrierGradeNat: 'shared',
  private: 'private',
  reserved: 'reserved',
};

/** ipaddr.js's names of the IPv6 special-purpose ranges, as kinds; any other name is `reserved`. */
const V6_KINDS: Readonly<Record<string, AddressKind>> = {
  unspecified: 'unspecified',
  loopback: 'loopback',
  linkLocal: 'link_local',
  deprecatedSiteLocal: 'private',
  uniqueLocal: 'unique_local',
  multicast: 'multicast',
};

const cidr = (text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] => ipaddr.parseCIDR(text);
/** The documentation ranges inside ipaddr.js's `reserved` (RFC 5737, RFC 3849, RFC 9637). */
const DOCUMENTATION = {
  documentation: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20'].map(cidr),
};
/** IPv6 global unicast, the only IPv6 space that is public. */
const GLOBAL_UNICAST = cidr('2000::/3');
/** The NAT64 well-known prefix (RFC 6052): such an address reaches the IPv4 address in its last 32 bits. */
const NAT64 = cidr('64:ff9b::/96');

function refineReserved(address: ipaddr.IPv4 | ipaddr.IPv6): AddressKind {
  return ipaddr.subnetMatch(address, DOCUMENTATION, 'reserved') as AddressKind;
}

function classifyV4(address: ipaddr.IPv4): AddressKind {
  const kind = V4_KINDS[address.range()] ?? 'reserved';
  return kind === 'reserved' ? refineReserved(address) : kind;
}

function classifyV6(address: ipaddr.IPv6): AddressKind {
  const range = address.range();
  // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d reach the IPv4 address they carry.
  if (range === 'ipv4Mapped') return classifyV4(address.toIPv4Address());
  if (address.match(NAT64)) return classifyV4(new ipaddr.IPv4(address.toByteArray().slice(12)));
  if (range === 'unicast') return address.match(GLOBAL_UNICAST) ? 'public' : 'reserved';
  if (range === 'reserved') return refineReserved(address);
  // 6to4, Teredo, the local-use NAT64 prefix, benchmarking, ORCHID, discard, …: refused.
  return V6_KINDS[range] ?? 'reserved';
}

/**
 * An IPv6 address in the hexadecimal form the WHATWG URL parser writes, without its zone. ipaddr.js reads
 * the deprecated IPv4-compatible form `::a.b.c.d` as the IPv4-mapped `::ffff:a.b.c.d`, which would make
 * `::8.8.8.8` public; its bytes are `::808:808`, outside global unicast, and that is what is classified.
 */
function canonicalV6(address: string): string {
  const zone = address.indexOf('%');
  const bare = zone >= 0 ? address.slice(0, zone) : address;
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
}

/**
 * What an IP address is, by the special-purpose ranges of ipaddr.js; `invalid` for text that is not one.
 * Only the strict textual forms count (dotted quad, RFC 4291 IPv6 with an optional zone): resolver answers
 * and URL hosts (which the URL parser has already normalised) are given in these forms.
 */
export function classifyAddress(address: string): AddressKind {
  const family = isIP(address);
  if (family === 0) return 'invalid';
  try {
    return family === 4 ? classifyV4(ipaddr.IPv4.parse(address)) : classifyV6(ipaddr.IPv6.parse(canonicalV6(address)));
  } catch {
    return 'invalid';
  }
}
