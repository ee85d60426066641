import { randomBytes } from 'node:crypto';
import type { AuditDraft, AuditEventType } from '../audit/index.js';
import { AppError } from '../errors/index.js';
import type { DomainStorage, OrgDomain, OrgDomainsRecord } from '../storage/index.js';
import { type Clock, isoTime } from '../util/clock.js';
import { newId } from '../util/ids.js';
import type { TxtResolver } from './dns-txt.js';

/** Id prefix of org domains. */
export const DOMAIN_ID_PREFIX = 'dom';
/** What the TXT record proving a domain starts with; the token follows. */
export const VERIFICATION_PREFIX = 'allowance-verification=';
/** Domains one org may hold. */
export const MAX_DOMAINS_PER_ORG = 50;
/** Rounds of read and compare-and-set a change makes while other changes of the org's domains race it. */
const MAX_SAVE_ROUNDS = 8;

/** A domain as the API shows it, with how to prove it. */
export interface DomainView {
  id: string;
  org_id: string;
  domain: string;
  status: OrgDomain['status'];
  verification: { type: 'TXT'; name: string; value: string };
  verified_at: string | null;
  last_checked_at: string | null;
  created_at: string;
}

/** The org's settings kept with its domains. */
export interface OrgSettingsView {
  org_id: string;
  webhooks_verified_domains_only: boolean;
}

/** Builds the audit draft of a domain change; undefined when audit is off. */
export type DomainDraftFactory = (spec: {
  orgId: string;
  type: AuditEventType;
  subject: { kind: string; id: string };
  payload: Record<string, unknown>;
  actor?: string;
}) => AuditDraft[] | undefined;

/** Options of {@link DomainService}. */
export interface DomainServiceOptions {
  /** Null: the server keeps no domains; every route answers `storage_unavailable`. */
  storage: DomainStorage | null;
  resolveTxt: TxtResolver;
  clock: Clock;
  drafts: DomainDraftFactory;
}

/** Lower case, without a trailing dot. */
export function normalizeDomain(domain: string): string {
  return domain.toLowerCase().replace(/\.$/, '');
}

/** True when `host` is `domain` or one of its subdomains. */
export function isWithinDomain(host: string, domain: string): boolean {
  const h = normalizeDomain(host);
  return h === domain || h.endsWith(`.${domain}`);
}

function view(orgId: string, d: OrgDomain): DomainView {
  return {
    id: d.id,
    org_id: orgId,
    domain: d.domain,
    status: d.status,
    verification: { type: 'TXT', name: d.domain, value: `${VERIFICATION_PREFIX}${d.token}` },
    verified_at: d.verified_at,
    last_checked_at: d.last_checked_at,
    created_at: d.created_at,
  };
}

/**
 * Domains an org proves with a DNS TXT record (`allowance-verification=<token>` on the domain), and the org's
 * setting that webhooks may only target them. An org's domains are one record saved by compare-and-set with
 * the change's audit event (`domain.added`, `domain.verified`, `domain.removed`, `org.settings_updated`).
 */
export class DomainService {
  private readonly storage: DomainStorage | null;
  private readonly resolveTxt: TxtResolver;
  private readonly clock: Clock;
  private readonly drafts: DomainDraftFactory;

  constructor(options: DomainServiceOptions) {
    this.storage = options.storage;
    this.resolveTxt = options.resolveTxt;
    this.clock = options.clock;
    this.drafts = options.drafts;
  }

  private store(): DomainStorage {
    if (!this.storage) throw new AppError('storage_unavailable', 'domains are not configured on this server');
    return this.storage;
  }

  async init(): Promise<void> {
    await this.storage?.init();
  }

  private empty(orgId: string): OrgDomainsRecord {
    return {
      org_id: orgId,
      domains: [],
      webhooks_verified_domains_only: false,
      updated_at: isoTime(this.clock.now()),
      version: 0,
    };
  }

  /**
   * Reads the org's record, lets `change` make the next one (or return null: nothing to write) and saves it by
   * compare-and-set, again on a lost race. Returns what `change` returned last with the saved record.
   */
  private async update<T>(
    orgId: string,
    change: (current: OrgDomainsRecord) => { next: OrgDomainsRecord; result: T; drafts?: AuditDraft[] } | null,
  ): Promise<T | null> {
    const storage = this.store();
    for (let round = 0; round < MAX_SAVE_ROUNDS; round++) {
      const stored = await storage.get(orgId);
      const current = stored ? structuredClone(stored) : this.empty(orgId);
      const made = change(current);
      if (!made) return null;
      const next = { ...made.next, version: current.version + 1, updated_at: isoTime(this.clock.now()) };
      if (await storage.save(next, stored ? stored.version : null, made.drafts)) return made.result;
    }
    throw new AppError('conflict', "the org's domains kept changing; try again");
  }

  private draftsOf(
    orgId: string,
    type: AuditEventType,
    domain: OrgDomain,
    actor: string | undefined,
    extra: Record<string, unknown> = {},
  ): AuditDraft[] | undefined {
    const drafts = this.drafts({
      orgId,
      type,
      subject: { kind: 'domain', id: domain.id },
      payload: { domain: domain.domain, ...extra },
      ...(actor ? { actor } : {}),
    });
    return drafts?.length ? drafts : undefined;
  }

  /** Adds a domain (pending) and returns the TXT record that proves it; 409 `conflict` when the org has it. */
  async add(orgId: string, input: { domain: string }, actor?: string): Promise<DomainView> {
    const name = normalizeDomain(input.domain);
    const nowMs = this.clock.now();
    const domain: OrgDomain = {
      id: newId(DOMAIN_ID_PREFIX, nowMs),
      domain: name,
      status: 'pending',
      token: randomBytes(24).toString('base64url'),
      verified_at: null,
      last_checked_at: null,
      created_at: isoTime(nowMs),
    };
    const added = await this.update(orgId, (current) => {
      if (current.domains.some((d) => d.domain === name)) {
        throw new AppError('conflict', `the org already has the domain ${name}`);
      }
      if (current.domains.length >= MAX_DOMAINS_PER_ORG) {
        throw new AppError('conflict', `an org may hold at most ${MAX_DOMAINS_PER_ORG} domains`);
      }
      return {
        next: { ...current, domains: [...current.domains, domain] },
        result: domain,
        drafts: this.draftsOf(orgId, 'domain.added', domain, actor),
      };
    });
    return view(orgId, added as OrgDomain);
  }

  async list(orgId: string): Promise<{ items: DomainView[] }> {
    const record = await this.store().get(orgId);
    const items = (record?.domains ?? []).map((d) => view(orgId, d));
    return { items: items.sort((a, b) => (a.id < b.id ? 1 : -1)) };
  }

  async get(orgId: string, id: string): Promise<DomainView> {
    const record = await this.store().get(orgId);
    const domain = record?.domains.find((d) => d.id === id);
    if (!domain) throw new AppError('not_found', 'domain not found');
    return view(orgId, domain);
  }

  /**
   * Looks the domain's TXT records up and marks it verified when one is `allowance-verification=<token>`.
   * 422 `domain_verification_failed` (`details.reason`: `domain_not_found`, `txt_record_missing`) otherwise,
   * 503 `dns_unavailable` when the resolvers do not answer. Verifying a verified domain looks the record up
   * again and updates `last_checked_at`; it stays verified (a proof once made is kept until removed).
   */
  async verify(orgId: string, id: string, actor?: string): Promise<DomainView> {
    const before = await this.get(orgId, id);
    const lookup = await this.resolveTxt(before.domain);
    if (lookup.status === 'unavailable') {
      throw new AppError('dns_unavailable', `the DNS resolvers did not answer for ${before.domain}`, {
        details: { domain: before.domain, error: lookup.error },
      });
    }
    const expected = before.verification.value;
    const found = lookup.status === 'found' && lookup.records.some((r) => r.trim() === expected);
    const checkedAt = isoTime(this.clock.now());
    const saved = await this.update(orgId, (current) => {
      const index = current.domains.findIndex((d) => d.id === id);
      const domain = current.domains[index];
      if (!domain) throw new AppError('not_found', 'domain not found');
      const newly = found && domain.status !== 'verified';
      const next: OrgDomain = {
        ...domain,
        last_checked_at: checkedAt,
        ...(newly ? { status: 'verified' as const, verified_at: checkedAt } : {}),
      };
      const domains = [...current.domains];
      domains[index] = next;
      return {
        next: { ...current, domains },
        result: next,
        ...(newly ? { drafts: this.draftsOf(orgId, 'domain.verified', next, actor, { record: expected }) } : {}),
      };
    });
    if (!found && saved?.status !== 'verified') {
      throw new AppError('domain_verification_failed', `no TXT record ${expected} on ${before.domain}`, {
        details: {
          domain: before.domain,
          reason: lookup.status === 'domain_not_found' ? 'domain_not_found' : 'txt_record_missing',
          expected: { type: 'TXT', name: before.domain, value: expected },
        },
      });
    }
    return view(orgId, saved as OrgDomain);
  }

  /** Removes a domain of the org; `not_found` otherwise. */
  async remove(orgId: string, id: string, actor?: string): Promise<DomainView> {
    const removed = await this.update(orgId, (current) => {
      const domain = current.domains.find((d) => d.id === id);
      if (!domain) throw new AppError('not_found', 'domain not found');
      return {
        next: { ...current, domains: current.domains.filter((d) => d.id !== id) },
        result: domain,
        drafts: this.draftsOf(orgId, 'domain.removed', domain, actor, { status: domain.status }),
      };
    });
    return view(orgId, removed as OrgDomain);
  }

  async getSettings(orgId: string): Promise<OrgSettingsView> {
    const record = await this.store().get(orgId);
    return { org_id: orgId, webhooks_verified_domains_only: record?.webhooks_verified_domains_only ?? false };
  }

  async updateSettings(
    orgId: string,
    input: { webhooks_verified_domains_only?: boolean },
    actor?: string,
  ): Promise<OrgSettingsView> {
    const changed = await this.update(orgId, (current) => {
      const value = input.webhooks_verified_domains_only ?? current.webhooks_verified_domains_only;
      if (value === current.webhooks_verified_domains_only) return null;
      const drafts = this.drafts({
        orgId,
        type: 'org.settings_updated',
        subject: { kind: 'org', id: orgId },
        payload: { changes: { webhooks_verified_domains_only: value } },
        ...(actor ? { actor } : {}),
      });
      return {
        next: { ...current, webhooks_verified_domains_only: value },
        result: value,
        ...(drafts?.length ? { drafts } : {}),
      };
    });
    return changed === null ? this.getSettings(orgId) : { org_id: orgId, webhooks_verified_domains_only: changed };
  }

  /**
   * Why a webhook of the org may not target `url` now, or null when it may: with the org's setting on, its
   * host must be a verified domain of the org or a subdomain of one. Without domain storage, null.
   */
  async webhookTargetRefusal(orgId: string, url: URL): Promise<string | null> {
    if (!this.storage) return null;
    const record = await this.storage.get(orgId);
    if (!record?.webhooks_verified_domains_only) return null;
    const host = url.hostname;
    const ok = record.domains.some((d) => d.status === 'verified' && isWithinDomain(host, d.domain));
    return ok ? null : `the host ${host} is not within a verified domain of the org`;
  }
}
