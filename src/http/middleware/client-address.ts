import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { TrustedProxies } from '../../config/index.js';

export { parseTrustedProxies, type TrustedProxies } from '../../config/index.js';

const MAPPED_V4 = /^::ffff:([0-9.]+)$/i;

/** `text` as an address string (IPv4-mapped IPv6 as IPv4); the common IPv4 cases without a full parse. */
function normalize(text: string): string {
  if (isIPv4(text)) return text;
  const mapped = MAPPED_V4.exec(text);
  if (mapped && isIPv4(mapped[1] as string)) return mapped[1] as string;
  return parse(text)?.toString() ?? text;
}

function parse(text: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (!text) return null;
  const trimmed = text.trim();
  return ipaddr.isValid(trimmed) ? ipaddr.process(trimmed) : null;
}

function isTrusted(addr: ipaddr.IPv4 | ipaddr.IPv6, trusted: TrustedProxies): boolean {
  return trusted.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
}

/**
 * The client's address: the socket's, unless the socket is a trusted proxy; then the right-most address of
 * `X-Forwarded-For` that is not a trusted proxy (the one the nearest trusted proxy saw). IPv4-mapped IPv6 is
 * shown as IPv4.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies,
): string {
  if (socketAddress === undefined) return 'unknown';
  if (trusted.length === 0 || !forwardedFor) return normalize(socketAddress);
  const socket = parse(socketAddress);
  if (!socket) return socketAddress;
  if (!isTrusted(socket, trusted)) return socket.toString();
  let client = socket;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parse(hops[i]);
    if (!hop) break;
    client = hop;
    if (!isTrusted(hop, trusted)) break;
  }
  return client.toString();
}

/**
 * The key a client address is limited under: an IPv4 address itself, an IPv6 address by its /64 (one
 * subscriber usually holds a whole /64, so per-address buckets would be free to multiply).
 */
export function addressLimitKey(address: string): string {
  if (isIPv4(address)) return address;
  const addr = parse(address);
  if (!addr) return address;
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
