import getRawBody from 'raw-body';
import { AppError } from '../../errors/index.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH } from '../../util/json-depth.js';
import type { AppContext } from '../types.js';

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 64 * 1024;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * The request body's exact bytes, read by raw-body: more than `limit` bytes is 413 `payload_too_large`
 * (refused on Content-Length before reading, else as soon as the count passes it), a body shorter or longer
 * than its Content-Length or a request aborted mid-body is 400 `malformed_request`; the connection is closed
 * after a refused body, whose rest is not read. The bridges check their processors' signatures over these bytes.
 */
export async function readRawBody(ctx: AppContext, limit: number): Promise<Buffer> {
  const declared = ctx.req.headers['content-length'];
  try {
    return await getRawBody(ctx.req, { limit, length: declared });
  } catch (err) {
    const type = (err as { type?: string }).type;
    // The rest of the body is not read: the connection cannot be reused.
    if (type === 'entity.too.large' || type === 'request.size.invalid') ctx.set('Connection', 'close');
    if (type === 'entity.too.large') {
      throw new AppError('payload_too_large', `the body exceeds ${limit} bytes`);
    }
    if (type === 'request.size.invalid' || type === 'request.aborted') {
      throw new AppError('malformed_request', 'the body does not match its Content-Length', { cause: err });
    }
    throw err;
  }
}

/**
 * Reads the request body as JSON: `{}`-less empty bodies give `undefined`; a non-JSON content type is 415,
 * more than `limit` bytes 413 (checked on Content-Length first, then while reading), objects or arrays
 * nested deeper than MAX_JSON_DEPTH 400 `nesting_too_deep` (checked on the text, before anything parses or
 * recurses), bad JSON 400.
 */
export async function readJsonBody(ctx: AppContext, limit = MAX_BODY_BYTES): Promise<unknown> {
  const bytes = await readRawBody(ctx, limit);
  if (bytes.length === 0) return undefined;
  const type = ctx.req.headers['content-type'] ?? '';
  if (!JSON_TYPE.test(type)) throw new AppError('unsupported_media_type', 'send the body as application/json');
  const text = bytes.toString('utf8');
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
