import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** How long after the listener closes idle keep-alive connections are closed (see {@link serveGracefully}). */
const IDLE_SWEEP_MS = 25;

/** A request listener that may return the promise of its work (as Koa's callback does). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The draining side of {@link serveGracefully}. */
export interface GracefulServer {
  /** True once `drain` was called. */
  readonly closing: boolean;
  /** Requests whose handler has not finished. */
  readonly inFlight: number;
  /**
   * Stops accepting and lets every request already taken finish: closes the listener at once, answers
   * requests in flight (and any that arrive on a kept-alive connection meanwhile) with `Connection: close`,
   * closes idle connections, and after `graceMs` closes the connections still open. Resolves once every
   * connection is closed and every handler has returned; `handlersTimedOut` is true when handlers were still
   * running `graceMs` after the connections closed (their work is then abandoned by the caller).
   */
  drain(graceMs: number): Promise<{ forcedConnections: number; handlersTimedOut: boolean }>;
}

/**
 * Serves `handler` on `server` with a graceful drain. Each request's handler promise is tracked, so draining
 * waits for the work of a request (e.g. an authorization's final write), not only for its socket.
 *
 * Idle connections are closed only after the event loop had a chance to read what clients already sent
 * (a timer, then setImmediate: a poll phase runs in between), so a request that reached the server just
 * before the drain is answered rather than reset.
 */
export function serveGracefully(server: Server, handler: RequestHandler): GracefulServer {
  let closing = false;
  const responses = new Set<ServerResponse>();
  const handlers = new Set<Promise<unknown>>();
  const sockets = new Set<Socket>();
  let handlersSettled: (() => void) | undefined;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.shouldKeepAlive = false;
    responses.add(res);
    res.once('close', () => responses.delete(res));
    const work = Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => {});
    handlers.add(work);
    void work.then(() => {
      handlers.delete(work);
      if (handlers.size === 0) handlersSettled?.();
    });
  });

  const closeIdleSoon = () =>
    new Promise<void>((done) => {
      setTimeout(() => {
        setImmediate(() => {
          server.closeIdleConnections();
          done();
        });
      }, IDLE_SWEEP_MS);
    });

  return {
    get closing() {
      return closing;
    },
    get inFlight() {
      return handlers.size;
    },
    async drain(graceMs) {
      closing = true;
      // No Connection: keep-alive on any response not yet started: the socket closes after it.
      for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
      // net.Server's close: stops listening and waits for the connections, without http.Server's immediate
      // close of idle connections (which would reset a request still in the socket's receive buffer).
      const closed = new Promise<void>((ok) => {
        NetServer.prototype.close.call(server, () => ok());
      });
      await closeIdleSoon();
      // A connection that was idle may have received a request meanwhile (answered with Connection: close);
      // sweep until none is left or the grace runs out.
      let forcedConnections = 0;
      const deadline = performance.now() + graceMs;
      let done = false;
      void closed.then(() => {
        done = true;
      });
      while (!done && performance.now() < deadline) {
        await Promise.race([closed, closeIdleSoon()]);
      }
      if (!done) {
        forcedConnections = sockets.size;
        server.closeAllConnections();
        await closed;
      }
      let handlersTimedOut = false;
      if (handlers.size > 0) {
        const settled = new Promise<void>((ok) => {
          handlersSettled = ok;
        });
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((ok) => {
          timer = setTimeout(() => {
            handlersTimedOut = true;
            ok();
          }, graceMs);
        });
        await Promise.race([settled, timeout]);
        clearTimeout(timer);
      }
      return { forcedConnections, handlersTimedOut };
    },
  };
}
