import ipaddr from 'ipaddr.js';

/** Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed. */
export type TrustedProxies = readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];

/** Parses `10.0.0.0/8`, `192.0.2.7`, `::1`, …; throws a RangeError naming the first bad entry. */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  return entries.map((entry) => {
    const text = entry.trim();
    try {
      if (text.includes('/')) return ipaddr.parseCIDR(text);
      const addr = ipaddr.process(text);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    } catch {
      throw new RangeError(`not an IP address or CIDR range: "${entry}"`);
    }
  });
}
