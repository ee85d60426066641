import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** How often a drain looks for idle connections to close. */
const IDLE_SWEEP_MS = 25;
/**
 * How long a connection must have been idle (no request in progress, nothing received since its last
 * response) before a drain closes it. A busy keep-alive client sends its next request well within this,
 * gets it answered with Connection: close, and its connection closes cleanly; closing sooner would reset
 * requests already on their way.
 */
export const IDLE_LINGER_MS = 1_000;

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
   * closes connections idle for IDLE_LINGER_MS, and after `graceMs` closes the connections still open. Resolves once every
   * connection is closed and every handler has returned; `handlersTimedOut` is true when handlers were still
   * running `graceMs` after the connections closed (their work is then abandoned by the caller).
   */
  drain(graceMs: number): Promise<{ forcedConnections: number; handlersTimedOut: boolean }>;
}

/**
 * Serves `handler` on `server` with a graceful drain. Each request's handler promise is tracked, so draining
 * waits for the work of a request (e.g. an authorization's final write), not only for its socket.
 *
 * Idle connections are closed only once they have been idle for IDLE_LINGER_MS and the event loop had a
 * chance to read what their clients already sent, so a keep-alive client that sends its next request
 * right after the drain starts gets an answer (with Connection: close) rather than a reset.
 */
export function serveGracefully(server: Server, handler: RequestHandler): GracefulServer {
  let closing = false;
  const responses = new Set<ServerResponse>();
  const handlers = new Set<Promise<unknown>>();
  /** Per connection: requests in progress, and since when and after how many bytes read it is idle. */
  const sockets = new Map<Socket, { busy: number; idleSince: number; bytesRead: number }>();
  let handlersSettled: (() => void) | undefined;

  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { busy: 0, idleSince: performance.now(), bytesRead: 0 });
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.shouldKeepAlive = false;
    responses.add(res);
    const socket = req.socket;
    const state = sockets.get(socket);
    if (state) state.busy++;
    res.once('close', () => {
      responses.delete(res);
      if (state) {
        state.busy--;
        state.idleSince = performance.now();
        state.bytesRead = socket.bytesRead;
      }
    });
    const work = Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => {});
    handlers.add(work);
    void work.then(() => {
      handlers.delete(work);
      if (handlers.size === 0) handlersSettled?.();
    });
  });

  /** Closes the connections idle for IDLE_LINGER_MS with nothing received since their last response. */
  const closeIdle = () => {
    const now = performance.now();
    for (const [socket, state] of sockets) {
      if (state.busy > 0 || now - state.idleSince < IDLE_LINGER_MS) continue;
      if (socket.bytesRead !== state.bytesRead) continue; // a request is arriving
      socket.destroy();
    }
  };
  // A timer, then setImmediate: the poll phase in between reads what clients already sent, so a request
  // that reached this server is seen (as a request, or as bytes read) before its connection is judged idle.
  const sweepSoon = () =>
    new Promise<void>((done) => {
      setTimeout(() => {
        setImmediate(() => {
          closeIdle();
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
      // Connections that were idle may receive a request meanwhile (answered with Connection: close, then
      // closed); sweep until every connection is closed or the grace runs out.
      let forcedConnections = 0;
      const deadline = performance.now() + graceMs;
      let done = false;
      void closed.then(() => {
        done = true;
      });
      while (!done && performance.now() < deadline) {
        await Promise.race([closed, sweepSoon()]);
      }
      if (!done) {
        forcedConnections = sockets.size;
        server.closeAllConnections();
        await closed;
      }
      // http.Server's own close, now that nothing is left to close: it stops the server's timer of request
      // and header timeouts (it reports the listener as already closed, which it is).
      server.close(() => {});
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
