const encoder = new TextEncoder();

/** JSON of the parts shared by many inputs: null until first written. */
const sharedJson = new WeakMap<object, string | null>();

/**
 * Freezes an object that many policy inputs share unchanged (the projection of one version of an agent,
 * authority or binding) and marks it so that {@link encodePolicyInput} writes its JSON once and reuses it
 * in every input that holds it as a top-level field. Whatever it references must not change either.
 */
export function sharedInputPart<T extends object>(part: T): Readonly<T> {
  Object.freeze(part);
  sharedJson.set(part, null);
  return part;
}

function jsonOfPart(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null) {
    const cached = sharedJson.get(value);
    if (cached !== undefined) {
      if (cached !== null) return cached;
      const json = JSON.stringify(value);
      sharedJson.set(value, json);
      return json;
    }
  }
  return JSON.stringify(value);
}

/**
 * JSON.stringify of a policy input, the same text, with the JSON of its shared parts written once
 * ({@link sharedInputPart}) rather than on every evaluation.
 */
export function policyInputJson(input: unknown): string {
  if (typeof input !== 'object' || input === null || Array.isArray(input) || 'toJSON' in input) {
    return JSON.stringify(input);
  }
  let out = '';
  for (const key of Object.keys(input)) {
    const json = jsonOfPart((input as Record<string, unknown>)[key]);
    // undefined, functions and symbols: a field JSON.stringify leaves out.
    if (json === undefined) continue;
    out += `${out === '' ? '{' : ','}${JSON.stringify(key)}:${json}`;
  }
  return out === '' ? '{}' : `${out}}`;
}

/**
 * Serializes a policy input to UTF-8 JSON in an ArrayBuffer of exactly its length.
 * The SDK only treats a real ArrayBuffer as raw JSON: a Node Buffer (or the pooled
 * `.buffer` behind one) would be evaluated as a different document.
 */
export function encodePolicyInput(input: unknown): ArrayBuffer {
  const bytes = encoder.encode(policyInputJson(input));
  const { buffer } = bytes;
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) {
    return buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}
