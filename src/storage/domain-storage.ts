import type { AuditDraft } from '../audit/types.js';

/** A domain an org claims; `verified` once a DNS TXT record carried its token. */
export interface OrgDomain {
  /** `dom_…`. */
  id: string;
  /** Lower case, no trailing dot. */
  domain: string;
  status: 'pending' | 'verified';
  /** The value to publish: a TXT record `allowance-verification=<token>` on the domain. */
  token: string;
  verified_at: string | null;
  /** When the last verification attempt looked the record up. */
  last_checked_at: string | null;
  created_at: string;
}

/**
 * Everything an org keeps about domains in one record: its domains and its setting that webhooks may only
 * target verified domains (and their subdomains).
 */
export interface OrgDomainsRecord {
  org_id: string;
  domains: OrgDomain[];
  webhooks_verified_domains_only: boolean;
  updated_at: string;
  /** Starts at 1; every save increments it (compare-and-set). */
  version: number;
}

/**
 * Where org domain records are kept, one per org. A save is one compare-and-set of the whole record with
 * its audit drafts (both or neither), so concurrent changes of an org's domains on several servers never
 * lose one another.
 */
export interface DomainStorage {
  init(): Promise<void>;
  close(): Promise<void>;
  /** The org's record, or null when it has none yet. */
  get(orgId: string): Promise<OrgDomainsRecord | null>;
  /**
   * Writes `record` (its `version` must be `expectVersion + 1`, or 1 for a first write with `expectVersion`
   * null) when the stored version is `expectVersion` (null: no record yet), with its audit drafts in the same
   * atomic write. False when the stored record moved (nothing written).
   */
  save(record: OrgDomainsRecord, expectVersion: number | null, events?: readonly AuditDraft[]): Promise<boolean>;
}

/** The methods of {@link DomainStorage}. */
export const DOMAIN_STORAGE_METHODS = [
  'init',
  'close',
  'get',
  'save',
] as const satisfies readonly (keyof DomainStorage)[];
