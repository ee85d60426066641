import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CODES } from '../errors/index.js';
import { newRequestId } from '../util/ids.js';
import type { Logger } from './logger.js';

/** What a request Node's HTTP parser refused is answered with, by the parser's error code. */
function refusal(code: string | undefined): {
  status: number;
  code: 'headers_too_large' | 'request_timeout' | 'malformed_request';
} {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: ERROR_CODES.headers_too_large, code: 'headers_too_large' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: ERROR_CODES.request_timeout, code: 'request_timeout' };
  return { status: ERROR_CODES.malformed_request, code: 'malformed_request' };
}

const REASON: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Answers requests Node's HTTP parser refuses (headers too large, a bad method, a malformed request line
 * or header) the way the app answers every error: a JSON envelope with a stable code and a fresh
 * `Request-Id`, then closes the connection. Resets and timeouts of the socket are only closed.
 */
export function handleClientErrors(server: Server, logger: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // A response of this socket already started: nothing more can be written on it.
    if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const requestId = newRequestId();
    const { status, code } = refusal(err.code);
    const body = JSON.stringify({
      error: {
        code,
        message:
          code === 'request_timeout' ? 'the request was not received in time' : 'the HTTP request could not be parsed',
        request_id: requestId,
      },
    });
    logger.info('request_refused', { request_id: requestId, status, code, parser_error: err.code ?? null });
    socket.end(
      `HTTP/1.1 ${status} ${REASON[status]}\r\n` +
        'Connection: close\r\n' +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `Request-Id: ${requestId}\r\n` +
        '\r\n' +
        body,
    );
  });
}
