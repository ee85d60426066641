const encoder = new TextEncoder();

/**
 * Serializes a policy input to UTF-8 JSON in an ArrayBuffer of exactly its length.
 * The SDK only treats a real ArrayBuffer as raw JSON: a Node Buffer (or the pooled
 * `.buffer` behind one) would be evaluated as a different document.
 */
export function encodePolicyInput(input: unknown): ArrayBuffer {
  const bytes = encoder.encode(JSON.stringify(input));
  const { buffer } = bytes;
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && buffer instanceof ArrayBuffer) {
    return buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}
