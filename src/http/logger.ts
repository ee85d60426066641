import pino, { type DestinationStream } from 'pino';
import type { LogLevel } from '../config/index.js';
import type { EngineLogger } from '../engine/index.js';

/** A structured logger: one JSON object per line, `{level, time, pid, hostname, ...fields, event}`. */
export interface Logger extends EngineLogger {
  debug(event: string, fields: Record<string, unknown>): void;
  /** Writes what is buffered (the asynchronous destination); resolves once it is written. */
  flush(): Promise<void>;
}

/**
 * Keys whose values never reach a log line: credentials, tokens, signing keys, webhook and bridge secrets
 * and card credential references. The value is replaced by `[redacted]`.
 */
export const REDACTED_KEYS = [
  'authorization',
  'Authorization',
  '["x-api-key"]',
  '["X-Api-Key"]',
  'cookie',
  'secret',
  'secrets',
  'client_secret',
  'token',
  'access_token',
  'refresh_token',
  'session_token',
  'agent_token',
  'password',
  'master_key',
  'masterKey',
  'signing_key',
  'signingKey',
  'private_key',
  'privateKey',
  'signing_secret',
  'webhook_secret',
  'bridge_secret',
  'credential_reference',
] as const;

/** Fields that may hold an object with secrets in it: their {@link REDACTED_KEYS} are redacted too. */
export const REDACTED_CONTAINERS = [
  'headers',
  'credential',
  'endpoint',
  'webhook',
  'bridge',
  'body',
  'config',
] as const;

/**
 * The paths given to pino's `redact`: every key of {@link REDACTED_KEYS} at the top level of a record and
 * inside each of {@link REDACTED_CONTAINERS}. Explicit paths, no wildcards: a `*.secret` path makes pino
 * walk and copy every record (measured at about 60 µs a line against about 1 µs for these paths, which
 * cost nothing more while a record has none of the containers).
 */
export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_KEYS,
  ...REDACTED_CONTAINERS.flatMap((c) =>
    REDACTED_KEYS.map((key) => (key.startsWith('[') ? `${c}${key}` : `${c}.${key}`)),
  ),
];

/** What a log line may be written to: pino's own destinations, any stream, or a function taking each line. */
export type LogSink = DestinationStream | ((line: string) => void);

/** Levels a logger can be set to: LOG_LEVEL's (`silent` for none). */
export type LoggerLevel = LogLevel;

/** Bytes buffered before standard output is written (fewer writes, one every few requests). */
export const LOG_BUFFER_BYTES = 4096;
/** The longest a buffered log line waits before it is written. */
export const LOG_FLUSH_MS = 1000;

let stdout: DestinationStream | undefined;

/**
 * Standard output, written asynchronously: lines are buffered up to {@link LOG_BUFFER_BYTES} and written
 * in the background, at the latest {@link LOG_FLUSH_MS} later; pino writes what is left synchronously when
 * the process exits. One per process, shared by every logger writing to stdout.
 */
function asyncStdout(): DestinationStream {
  if (stdout) return stdout;
  const out = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  stdout = out;
  setInterval(() => {
    try {
      out.flush();
    } catch {
      // Closed (the process is exiting): pino has flushed what it could.
    }
  }, LOG_FLUSH_MS).unref();
  return out;
}

function toStream(sink: LogSink): DestinationStream {
  return typeof sink === 'function' ? { write: sink } : sink;
}

/** Flushes a pino destination that buffers (SonicBoom); a plain stream has nothing to flush. */
function flushOf(stream: DestinationStream): () => Promise<void> {
  const boom = stream as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void; fd?: number };
  if (typeof boom.flush !== 'function') return () => Promise.resolve();
  return () =>
    new Promise<void>((ok) => {
      try {
        // SonicBoom refuses to flush before its file is open or while nothing is written: both mean done.
        (boom.flush as (cb: (err?: Error) => void) => void)(() => ok());
      } catch {
        ok();
      }
    });
}

/**
 * The logger of the server: pino, JSON lines at or above `level` to `sink` (default: standard output,
 * asynchronously), ISO times, level names, the secrets of {@link REDACT_PATHS} replaced by `[redacted]`.
 * Call sites log an event name and its fields: `logger.info('request', { route, status })`.
 */
export function createJsonLogger(level: LoggerLevel = 'info', sink?: LogSink): Logger {
  const stream = sink === undefined ? asyncStdout() : toStream(sink);
  const log = pino(
    {
      level,
      messageKey: 'event',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    },
    stream,
  );
  return {
    debug: (event, fields) => log.debug(fields, event),
    info: (event, fields) => log.info(fields, event),
    warn: (event, fields) => log.warn(fields, event),
    error: (event, fields) => log.error(fields, event),
    flush: flushOf(stream),
  };
}

/** One parsed log line, as {@link captureLogger} keeps it. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  event: string;
  time: string;
  [field: string]: unknown;
}

/**
 * A logger for tests: the server's logger (same levels, format and redaction) whose lines are parsed and
 * kept in `records`, in order, as they are written (synchronously).
 */
export function captureLogger(level: LoggerLevel = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = createJsonLogger(level, (line) => {
    records.push(JSON.parse(line) as LogRecord);
  });
  return { logger, records };
}

/** A logger that drops everything (tests, benchmarks, the demo). */
export const silentLogger: Logger = createJsonLogger('silent', () => {});
