/**
 * A webhook receiver for tests: a real node:http server on 127.0.0.1 that records every request, verifies
 * its signature with its own HMAC computation (not the product's code) and answers what `respond` says.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedDelivery {
  headers: IncomingHttpHeaders;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  json: any;
  /** The status the receiver answered. */
  answered: number;
  /** The signature header verified against `secret` (null when no secret was set yet). */
  verified: boolean | null;
}

/** A running receiver. */
export interface WebhookReceiver {
  url: string;
  port: number;
  /** Every request so far, in arrival order. */
  received: ReceivedDelivery[];
  /** The endpoint's secret, once known. */
  secret: string | null;
  /** Decides the status of the n-th request (0-based). Default: 200. */
  respond: (n: number, body: string) => number;
  /** Resolves when `predicate` holds for the requests so far (checked after each one), or rejects after `ms`. */
  waitFor(predicate: (received: ReceivedDelivery[]) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Independent check of `Allowance-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 keyed with the secret's UTF-8
 * bytes over `<t>.<body>`, compared in constant time, timestamp within 5 minutes.
 */
export function independentVerify(header: string | undefined, secret: string, body: string): boolean {
  if (!header) return false;
  const fields = new Map(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = fields.get('t');
  const v1 = fields.get('v1');
  if (!t || !v1 || !/^[0-9]+$/.test(t) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'));
  mac.update(Buffer.from(`${t}.`, 'utf8'));
  mac.update(Buffer.from(body, 'utf8'));
  return timingSafeEqual(mac.digest(), Buffer.from(v1, 'hex'));
}

/** Starts a receiver on 127.0.0.1 (`port` 0: any free port). */
export async function startWebhookReceiver(
  options: { port?: number; respond?: (n: number, body: string) => number } = {},
): Promise<WebhookReceiver> {
  const waiters: { predicate: (r: ReceivedDelivery[]) => boolean; resolve: () => void }[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    port: 0,
    received: [],
    secret: null,
    respond: options.respond ?? (() => 200),
    waitFor(predicate, ms = 15_000) {
      if (predicate(receiver.received)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`receiver: condition not met after ${ms} ms (${receiver.received.length} requests)`)),
          ms,
        );
        waiters.push({
          predicate,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = receiver.received.length;
      const answered = receiver.respond(n, body);
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      const header = req.headers['allowance-signature'];
      receiver.received.push({
        headers: req.headers,
        body,
        json,
        answered,
        verified: receiver.secret === null ? null : independentVerify(header as string, receiver.secret, body),
      });
      res.writeHead(answered, { 'content-type': 'text/plain' });
      res.end(answered < 300 ? 'ok' : 'not now');
      for (const w of [...waiters]) {
        if (w.predicate(receiver.received)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  return receiver;
}

/** Event ids of requests the receiver answered with 2xx. */
export function acceptedEventIds(received: ReceivedDelivery[]): string[] {
  return received.filter((r) => r.answered >= 200 && r.answered < 300).map((r) => r.json?.id as string);
}
