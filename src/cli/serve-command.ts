// `allowance serve`: the HTTP server (what `npm start` runs), configured by the environment.
// Exit status: 0 stopped cleanly by SIGTERM/SIGINT, 1 it failed to start or to stop, 2 usage or configuration error.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createMemoryStores } from '../../adapters/memory/index.js';
import { ConfigError, ensureDataDirKeys, loadConfig, mongoClientOptions, type ServerConfig } from '../config/index.js';
import { SpoolLockedError } from '../engine/index.js';
import { createJsonLogger, type Logger } from '../http/logger.js';
import { type StoreSet, startServer } from '../http/start-server.js';
import type { StorageSet } from '../storage/index.js';
import { startTelemetry, type Telemetry } from './telemetry.js';

/** Most worker processes `--workers` accepts. */
export const MAX_WORKERS = 64;

export const SERVE_USAGE = `usage: allowance serve [--port <n>] [--host <address>] [--workers <n>]

Starts the Allowance HTTP API: /v1, /openapi.json, the API explorer at /docs, /.well-known/jwks.json,
/metrics, /healthz, /readyz. Configuration comes from the environment (PORT, HOST, MONGODB_URI,
ALLOWANCE_MASTER_KEY, ALLOWANCE_SIGNING_KEY_FILE, ...: see README.md); --port and --host override PORT
and HOST. The store: MongoDB when MONGODB_URI is set, else SQLite in $ALLOWANCE_DATA_DIR/allowance.db
(default ./data; keys generated there once when none is configured), or ALLOWANCE_STORE=memory for an
ephemeral in-memory store. LOG_LEVEL sets the JSON log's level (debug, info, warn, error, silent);
OTEL_TRACES_EXPORTER (otlp, console, zipkin) or OTEL_EXPORTER_OTLP_ENDPOINT turns on OpenTelemetry traces
of authorize. SIGTERM or SIGINT drains in-flight requests and stops.

options:
  --port <n>        listen port (default: $PORT, else 8080; 0 picks a free one)
  --host <address>  listen address (default: $HOST, else 0.0.0.0)
  --workers <n>     serve from n processes on one port (node:cluster; default 1, at most ${MAX_WORKERS});
                    more than 1 needs a store shared by processes: SQLite (the default) or MongoDB,
                    not ALLOWANCE_STORE=memory
  -h, --help        this help

exit status: 0 stopped by a signal, 1 failed to start or stop, 2 usage or configuration error`;

/** What a server on the configured backend runs on: every store of one backend. */
export type ServerStores = StorageSet & Pick<StoreSet, 'sharedLimits'>;

/** The SQLite database file of a configuration. */
export function sqlitePath(config: ServerConfig): string {
  return join(config.dataDir, 'allowance.db');
}

/**
 * The stores of a configuration: MongoDB with MONGODB_URI, the in-memory store with ALLOWANCE_STORE=memory,
 * else SQLite in the data directory (a writer waits for another process's lock at most the authorize
 * deadline). This is the composition root: the one place of `src/` that imports the adapters. The MongoDB
 * adapter (and its driver) and the SQLite adapter (a native module) are loaded only when selected.
 */
export async function serverStores(config: ServerConfig): Promise<ServerStores> {
  if (config.mongodbUri === null && config.store !== 'memory') {
    const { createSqliteStores } = await import('../../adapters/sqlite/index.js');
    return createSqliteStores({ path: sqlitePath(config), busyTimeoutMs: config.authorizeDeadlineMs });
  }
  if (config.mongodbUri === null) {
    // One outbox for every store, so credential, webhook and policy events land in the org's audit trail.
    const logger = createJsonLogger(config.logLevel);
    return createMemoryStores({
      history: {
        maxAuthorizations: config.memoryHistory,
        maxAuditEvents: config.memoryHistory,
        // Loud once, then once per 10,000 records dropped.
        onDrop: (drop) => {
          const before = drop.total_dropped - drop.dropped;
          if (before > 0 && Math.floor(before / 10_000) === Math.floor(drop.total_dropped / 10_000)) return;
          logger.warn('memory_history_dropped', {
            ...drop,
            limit: config.memoryHistory,
            message: 'the memory store keeps only recent history (ALLOWANCE_MEMORY_HISTORY); older records are gone',
          });
        },
      },
    });
  }
  const { createMongoStores } = await import('../../adapters/mongodb/index.js');
  // Every store call of an authorize runs inside its deadline, the driver's own timeouts included.
  return createMongoStores({
    uri: config.mongodbUri,
    clientOptions: mongoClientOptions(config.authorizeDeadlineMs),
  });
}

/** The start-up line saying which store holds the data and where; loud for the memory store. */
export function logStore(config: ServerConfig, logger: Logger): void {
  if (config.store === 'sqlite') {
    logger.info('store', { store: 'sqlite', path: sqlitePath(config), durable: true });
  } else if (config.store === 'mongodb') {
    logger.info('store', { store: 'mongodb', durable: true });
  } else {
    logger.warn('store_memory', {
      store: 'memory',
      durable: false,
      message:
        'ALLOWANCE_STORE=memory: every org, credential, budget, decision and audit event lives in this process only and is LOST ON EXIT. Use it for tests and demos, never for real money (unset ALLOWANCE_STORE for SQLite in ./data).',
    });
  }
}

/** Runs the server until SIGTERM or SIGINT; resolves with the exit status. */
export async function runServeCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { port?: string; host?: string; workers?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`allowance serve: ${(err as Error).message}\n\n${SERVE_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  const workers = values.workers === undefined ? 1 : /^[1-9][0-9]*$/.test(values.workers) ? Number(values.workers) : 0;
  if (workers < 1 || workers > MAX_WORKERS) {
    process.stderr.write(
      `allowance serve: invalid_workers: --workers takes a whole number from 1 to ${MAX_WORKERS}\n\n${SERVE_USAGE}\n`,
    );
    return 2;
  }
  let config: ServerConfig;
  try {
    config = loadConfig({
      ...env,
      ...(values.port !== undefined ? { PORT: values.port } : {}),
      ...(values.host !== undefined ? { HOST: values.host } : {}),
    });
  } catch (err) {
    process.stderr.write(`allowance serve: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = createJsonLogger(config.logLevel);
  // A worker of `--workers` serves like a single process; the primary only forks, watches and stops them.
  if (workers > 1 && !cluster.isWorker) {
    if (!sharedStore(config)) {
      process.stderr.write(
        'allowance serve: workers_need_shared_store: --workers above 1 needs a store every process shares: ' +
          'SQLite (unset ALLOWANCE_STORE) or MongoDB (MONGODB_URI); the in-memory store lives inside one ' +
          'process (workers would each hold their own budgets and decisions)\n',
      );
      return 2;
    }
    try {
      config = await prepareSharedFile(config, logger);
    } catch (err) {
      logger.error('start_failed', { error: err instanceof Error ? err.message : String(err) });
      await logger.flush();
      return err instanceof ConfigError ? 2 : 1;
    }
    return runPrimary(workers, config, env, logger);
  }
  let running: Awaited<ReturnType<typeof startServer>>;
  let telemetry: Telemetry | null = null;
  try {
    // Traces only when the OTEL_ variables ask for them; otherwise the SDK is not loaded.
    telemetry = await startTelemetry(env);
    if (telemetry) logger.info('tracing', { exporters: telemetry.exporters });
    const keys = await ensureDataDirKeys(config);
    config = keys.config;
    for (const path of keys.created) logger.info('key_generated', { path, mode: '0600' });
    logStore(config, logger);
    running = await startServer(config, { stores: serverStores, logger });
    // The start-up lines (keys, store, listening) are written now, not when the buffer fills.
    await logger.flush();
  } catch (err) {
    await telemetry?.shutdown().catch(() => {});
    if (err instanceof ConfigError) {
      logger.error('config_invalid', { message: err.message });
      await logger.flush();
      return 2;
    }
    if (err instanceof SpoolLockedError) {
      // Another server process runs on this spool directory: give each process its own.
      logger.error('stand_in_spool_locked', { dir: err.dir, message: err.message });
      await logger.flush();
      return 1;
    }
    logger.error('start_failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    await logger.flush();
    return 1;
  }
  const signal = await new Promise<string>((ok) => {
    process.once('SIGTERM', () => ok('SIGTERM'));
    process.once('SIGINT', () => ok('SIGINT'));
  });
  logger.info('shutting_down', { signal });
  try {
    await running.shutdown();
    // The spans still buffered are exported before the process ends.
    await telemetry?.shutdown().catch((err: unknown) => logger.warn('tracing_shutdown_failed', { error: String(err) }));
    return 0;
  } catch (err) {
    logger.error('shutdown_failed', { error: String(err) });
    return 1;
  } finally {
    await logger.flush();
  }
}

/**
 * True when every process of this configuration reads and writes the same store: MongoDB, or the SQLite
 * file (every process on it takes SQLite's locks; nothing a decision depends on is kept in a process).
 */
function sharedStore(config: ServerConfig): boolean {
  return config.store === 'mongodb' || config.store === 'sqlite';
}

/**
 * Before the workers of `--workers` start on SQLite, the primary generates the data directory's keys (when
 * none are configured) and creates and migrates the database file once, so that a file this version cannot
 * open stops the server before any worker starts, and the workers find everything ready. (Each worker
 * opens the file again; its migrations are then no-ops, and would be safe anyway: each one is applied in a
 * write transaction that checks the schema version first.)
 */
async function prepareSharedFile(config: ServerConfig, logger: Logger): Promise<ServerConfig> {
  if (config.store !== 'sqlite') return config;
  const keys = await ensureDataDirKeys(config);
  for (const path of keys.created) logger.info('key_generated', { path, mode: '0600' });
  logStore(keys.config, logger);
  const { openDatabase } = await import('../../adapters/sqlite/index.js');
  openDatabase(sqlitePath(keys.config), { busyTimeoutMs: keys.config.authorizeDeadlineMs }).close();
  return keys.config;
}

/**
 * The primary of `--workers n`: forks n workers on one port (node:cluster shares the listening socket),
 * each with its own stand-in spool (`<spool dir>/worker-<slot>`, taken over by a replacement of that slot)
 * and one operator credential (generated here once when unset, so every worker accepts it). A worker that
 * dies after it listened is replaced; one that dies before stops the whole server (a start failure would
 * only repeat). SIGTERM or SIGINT stops every worker with SIGTERM (each drains) and waits for them.
 */
async function runPrimary(
  workers: number,
  config: ServerConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): Promise<number> {
  const shared: NodeJS.ProcessEnv = {};
  if (!config.operator) {
    const keyId = `op_${randomBytes(10).toString('hex')}`;
    const secret = `sk_${randomBytes(32).toString('base64url')}`;
    shared.ALLOWANCE_OPERATOR_KEY_ID = keyId;
    shared.ALLOWANCE_OPERATOR_SECRET = secret;
    process.stderr.write(
      [
        '',
        '==================== Allowance operator credential ====================',
        'ALLOWANCE_OPERATOR_KEY_ID/ALLOWANCE_OPERATOR_SECRET are unset; generated for these workers only.',
        'It is printed once and never again:',
        `  key_id: ${keyId}`,
        `  secret: ${secret}`,
        '========================================================================',
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  let failed = false;
  const slots = new Map<Worker, number>();
  const listening = new Set<Worker>();
  let port = config.port;
  let allListening: () => void = () => {};
  const ready = new Promise<void>((ok) => {
    allListening = ok;
  });
  let allExited: () => void = () => {};
  const exited = new Promise<void>((ok) => {
    allExited = ok;
  });
  const fork = (slot: number) => {
    const worker = cluster.fork({
      ...env,
      ...shared,
      ALLOWANCE_SPOOL_DIR: join(config.spoolDir, `worker-${slot}`),
    });
    slots.set(worker, slot);
    worker.on('listening', (address) => {
      port = address.port;
      listening.add(worker);
      if (listening.size === workers) allListening();
    });
  };
  const stopAll = () => {
    stopping = true;
    for (const worker of slots.keys()) worker.process.kill('SIGTERM');
  };
  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.get(worker) as number;
    const wasListening = listening.delete(worker);
    slots.delete(worker);
    if (stopping) {
      if (code !== 0) failed = true;
      if (slots.size === 0) allExited();
      return;
    }
    logger.error('worker_exited', { slot, pid: worker.process.pid, code, signal });
    if (wasListening) {
      fork(slot);
      return;
    }
    // Died while starting: another try would fail alike.
    failed = true;
    stopAll();
    if (slots.size === 0) allExited();
  });
  for (let slot = 0; slot < workers; slot++) fork(slot);
  const signal = await new Promise<string>((ok) => {
    process.once('SIGTERM', () => ok('SIGTERM'));
    process.once('SIGINT', () => ok('SIGINT'));
    void ready.then(() =>
      logger.info('workers_listening', {
        workers,
        port,
        pids: [...listening].map((w) => w.process.pid),
      }),
    );
    void exited.then(() => ok('workers_exited'));
  });
  if (signal !== 'workers_exited') {
    logger.info('shutting_down', { signal, workers: slots.size });
    stopAll();
    if (slots.size === 0) allExited();
    await exited;
  }
  await logger.flush();
  return failed ? 1 : 0;
}
