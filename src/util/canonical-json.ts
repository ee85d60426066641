// Object keys repeat across values (field names); their quoted form is kept rather than re-escaped.
const quotedKeys = new Map<string, string>();
const MAX_QUOTED_KEYS = 4096;

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(k, q);
  }
  return q;
}

/**
 * Serializes a JSON value with object keys sorted by UTF-16 code units and no whitespace:
 * the RFC 8785 form for the values this project hashes (strings, safe integers, booleans, null).
 * Non-integer numbers are rejected because their canonical form is not needed and easy to get wrong.
 * Properties whose value is undefined are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  // Values built with their keys already in order (audit events, decisions) serialize natively.
  if (typeof value === 'object' && value !== null && isCanonicalTree(value)) return JSON.stringify(value);
  return serialize(value);
}

/**
 * True when JSON.stringify of `value` is already its canonical form: every object's keys in strictly
 * ascending order with no undefined value, every number a safe integer, nothing but JSON types.
 */
function isCanonicalTree(value: unknown): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isSafeInteger(value);
    case 'object': {
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isCanonicalTree(value[i])) return false;
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return false;
      const obj = value as Record<string, unknown>;
      let previous: string | undefined;
      for (const k in obj) {
        if (previous !== undefined && !(previous < k)) return false;
        const v = obj[k];
        if (v === undefined || !isCanonicalTree(v)) return false;
        previous = k;
      }
      return true;
    }
    default:
      return false;
  }
}

function serialize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonicalJson: unsupported number ${value}`);
      return String(value);
    case 'object': {
      // Plain loops and string concatenation: this runs for every audit event and request hash.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += serialize(value[i]);
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonicalJson: unsupported object ${proto?.constructor?.name ?? 'unknown'}`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += `${quoteKey(k)}:${serialize(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: unsupported type ${typeof value}`);
  }
}
