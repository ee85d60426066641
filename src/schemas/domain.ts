import { livemodeField, responseTypes } from './common.js';

const { str, time, nullableTime } = responseTypes;

/** Body of adding a domain. */
export const createDomainSchema = {
  $id: 'CreateDomain',
  type: 'object',
  additionalProperties: false,
  required: ['domain'],
  properties: {
    domain: {
      type: 'string',
      minLength: 3,
      maxLength: 253,
      // Letters, digits and hyphens, at least two labels, no label longer than 63, no leading or trailing hyphen.
      pattern:
        '^(?=.{3,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$',
      description: 'A DNS name such as example.com (case-insensitive; stored in lower case, a trailing dot dropped).',
    },
  },
} as const;

const domainProperties = {
  id: str,
  org_id: str,
  livemode: livemodeField,
  domain: str,
  status: { enum: ['pending', 'verified'] },
  verification: {
    type: 'object',
    required: ['type', 'name', 'value'],
    properties: {
      type: { const: 'TXT' },
      name: { type: 'string', description: 'Where to publish the record: the domain itself.' },
      value: { type: 'string', description: 'The record: allowance-verification=<token>.' },
    },
  },
  verified_at: nullableTime,
  last_checked_at: nullableTime,
  created_at: time,
} as const;

/** A domain of the org and how to prove it. */
export const domainSchema = {
  $id: 'Domain',
  type: 'object',
  required: Object.keys(domainProperties),
  properties: domainProperties,
} as const;

/** Every domain of the org (at most a few dozen: not paged). */
export const domainListSchema = {
  $id: 'DomainList',
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: { $ref: 'Domain' } } },
} as const;

/** Body of changing the org's domain settings. */
export const updateOrgSettingsSchema = {
  $id: 'UpdateOrgSettings',
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    webhooks_verified_domains_only: {
      type: 'boolean',
      description:
        'true: webhooks may only target verified domains of the org and their subdomains, checked at registration and before every delivery attempt.',
    },
  },
} as const;

/** The org's settings. */
export const orgSettingsSchema = {
  $id: 'OrgSettings',
  type: 'object',
  required: ['org_id', 'livemode', 'webhooks_verified_domains_only'],
  properties: { org_id: str, livemode: livemodeField, webhooks_verified_domains_only: { type: 'boolean' } },
} as const;
