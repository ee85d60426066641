import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isAppError } from '../errors/index.js';
import { type CheckedTarget, checkWebhookTarget, type TargetPolicy } from './target-guard.js';

/** One signed POST to send. */
export interface OutgoingDelivery {
  url: URL;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** How an attempt went: 2xx is `ok`; any other status (redirects included) or no answer is a failure. */
export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** Sends one delivery; never throws. */
export type WebhookSender = (delivery: OutgoingDelivery) => Promise<SendResult>;

/** A `lookup` that answers the already-checked address whatever it is asked (the socket connects to it). */
function pinnedLookup(target: CheckedTarget): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as unknown as LookupFunction;
}

function describe(err: unknown): string {
  if (isAppError(err)) return `${err.code}: ${err.message}`;
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message : String(err);
  return (typeof e?.code === 'string' && !text.includes(e.code) ? `${e.code}: ${text}` : text).slice(0, 300);
}

/**
 * The sender of the dispatcher: checks the target again (DNS may have changed since registration), then
 * POSTs to the checked address with the URL's host name for TLS and `Host`. No connection reuse, no
 * redirects followed, one deadline for the whole attempt; the response body is read and discarded.
 */
export function createWebhookSender(policy: TargetPolicy): WebhookSender {
  return async (delivery) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let target: CheckedTarget;
    try {
      target = await checkWebhookTarget(delivery.url, policy);
    } catch (err) {
      return { ok: false, statusCode: null, error: describe(err), durationMs: elapsed() };
    }
    const remaining = Math.max(1, delivery.timeoutMs - elapsed());
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (statusCode: number | null, error: string | null) => {
        if (settled) return;
        settled = true;
        const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
        resolve({ ok, statusCode, error, durationMs: elapsed() });
      };
      const url = delivery.url;
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        {
          protocol: url.protocol,
          hostname: target.host,
          port: url.port === '' ? undefined : Number(url.port),
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers: { ...delivery.headers, 'Content-Length': String(Buffer.byteLength(delivery.body)) },
          lookup: pinnedLookup(target),
          agent: false,
          ...(url.protocol === 'https:' && target.host !== target.address ? { servername: target.host } : {}),
        },
        (res: IncomingMessage) => {
          // The status decides; the body is drained within the same deadline, then the socket closes.
          res.on('error', () => {});
          res.on('close', () => clearTimeout(timer));
          res.resume();
          finish(res.statusCode ?? null, null);
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`timed out after ${delivery.timeoutMs} ms`));
      }, remaining);
      req.on('error', (err) => {
        clearTimeout(timer);
        finish(null, describe(err));
      });
      req.end(delivery.body);
    });
  };
}
