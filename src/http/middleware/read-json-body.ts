import { AppError } from '../../errors/index.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH } from '../../util/json-depth.js';
import type { AppContext } from '../types.js';

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 64 * 1024;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads the request body as JSON: `{}`-less empty bodies give `undefined`; a non-JSON content type is 415,
 * more than `limit` bytes 413 (checked on Content-Length first, then while reading), objects or arrays
 * nested deeper than MAX_JSON_DEPTH 400 `nesting_too_deep` (checked on the text, before anything parses or
 * recurses), bad JSON 400.
 */
export async function readJsonBody(ctx: AppContext, limit = MAX_BODY_BYTES): Promise<unknown> {
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new AppError('payload_too_large', `the body exceeds ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new AppError('payload_too_large', `the body exceeds ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new AppError('unsupported_media_type', 'send the body as application/json');
  const text = chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8');
  if (jsonTextTooDeep(text)) {
    throw new AppError('nesting_too_deep', `the body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`, {
      details: { max_depth: MAX_JSON_DEPTH },
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError('malformed_request', 'the body is not valid JSON');
  }
}
