/**
 * How domain objects live in MongoDB documents. Field names of free-form maps (agent metadata, policy
 * input, consumption and hold ids) may contain `.`, `$` or NUL, which MongoDB forbids or reads as paths,
 * so every key is escaped on the way in and unescaped on the way out: `%` → `%25`, `.` → `%2E`,
 * `$` → `%24`, NUL → `%00`, and the empty key → `%`. Names of the model never contain these, so the
 * documents stay queryable by their plain field names.
 */

const ESCAPES: Record<string, string> = { '%': '%25', '.': '%2E', $: '%24', '\u0000': '%00' };
const UNESCAPES: Record<string, string> = { '%25': '%', '%2E': '.', '%24': '$', '%00': '\u0000' };

/** The stored form of one field name. */
export function encodeKey(key: string): string {
  if (key === '') return '%';
  let out = '';
  for (const c of key) out += ESCAPES[c] ?? c;
  return out;
}

/** The field name a stored key stands for. */
export function decodeKey(key: string): string {
  if (key === '%') return '';
  return key.replace(/%(25|2E|24|00)/g, (m) => UNESCAPES[m] as string);
}

/** A value with every object key escaped and `undefined` fields dropped. */
export function toStored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : toStored(v)));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[encodeKey(k)] = toStored(v);
  }
  return out;
}

interface BsonWrapper {
  _bsontype: string;
  toNumber?: () => number;
  valueOf(): unknown;
}

/**
 * A stored value back in domain form: keys unescaped, and BSON number wrappers (Long, Int32, Double,
 * as a caller-supplied client may be set to return) turned into plain numbers.
 */
export function fromStored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromStored);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const bson = (value as Partial<BsonWrapper>)._bsontype;
  if (bson === 'Long') return (value as BsonWrapper).toNumber?.();
  if (bson === 'Int32' || bson === 'Double') return Number((value as BsonWrapper).valueOf());
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[decodeKey(k)] = fromStored(v);
  return out;
}

/**
 * Fields the adapter adds to documents; never part of a domain object. `_audit` and `_audit_key` hold
 * the audit drafts pending in a document, `_deleted` marks a tombstone (see audit-outbox.ts).
 */
export const INTERNAL_FIELDS: ReadonlySet<string> = new Set([
  '_id',
  'ref_key',
  'list_key',
  'approval_list_key',
  '_audit',
  '_audit_key',
  '_deleted',
]);

/** The domain object of a stored document, without the adapter's own fields (they are not even decoded). */
export function toDomain<T>(doc: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!INTERNAL_FIELDS.has(k)) out[decodeKey(k)] = fromStored(v);
  }
  return out as T;
}

/** The fields of a patch that are set (undefined ones are left as stored). */
export function withoutUndefined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
