import { Resolver } from 'node:dns/promises';

/** What a TXT lookup found: the records (each one's strings joined), or why there are none. */
export type TxtLookup =
  | { status: 'found'; records: string[] }
  | { status: 'no_records' }
  | { status: 'domain_not_found' }
  | { status: 'unavailable'; error: string };

/** Looks up the TXT records of a name; never throws. */
export type TxtResolver = (name: string) => Promise<TxtLookup>;

/** Options of {@link createTxtResolver}. */
export interface TxtResolverOptions {
  /**
   * Nameservers to ask (`1.2.3.4`, `[2001:db8::1]:5353`, `127.0.0.1:5353`), as node:dns `setServers` takes
   * them. Empty or absent: the system's resolvers.
   */
  servers?: readonly string[];
  /** Milliseconds of one query before it is retried. Default 2000. */
  timeoutMs?: number;
  /** Queries per server before giving up. Default 2. */
  tries?: number;
}

const NOT_FOUND = new Set(['ENOTFOUND']);
const NO_DATA = new Set(['ENODATA']);

/** A {@link TxtResolver} on a node:dns Resolver of its own (the process-wide resolver is left alone). */
export function createTxtResolver(options: TxtResolverOptions = {}): TxtResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  return async (name) => {
    try {
      const records = await resolver.resolveTxt(name);
      return records.length === 0
        ? { status: 'no_records' }
        : { status: 'found', records: records.map((r) => r.join('')) };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (NOT_FOUND.has(code)) return { status: 'domain_not_found' };
      if (NO_DATA.has(code)) return { status: 'no_records' };
      return { status: 'unavailable', error: code || String(err) };
    }
  };
}
