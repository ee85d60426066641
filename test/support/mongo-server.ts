/**
 * Starts a MongoDB wire-protocol server for tests (see test/support/mongo-server/).
 *
 * - MONGODB_URI set: that server is used as is; nothing is started and stop() does nothing.
 * - Otherwise the launcher built by scripts/install-mongo-server.sh is started on a free
 *   port of 127.0.0.1. Without `dataDir` it keeps its data in memory; with `dataDir` it keeps
 *   it in that directory (left in place by stop(), so a test can restart on the same data).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';

export interface StartMongoServerOptions {
  /** Directory for persistent data (kept after stop()); in-memory when omitted. */
  dataDir?: string;
}

export interface RunningMongoServer {
  uri: string;
  /** The server's process id (fault tests pause it); undefined for an external MONGODB_URI. */
  pid?: number;
  stop(): Promise<void>;
}

export type MongoServerErrorCode = 'mongo_server_missing' | 'mongo_server_start_failed';

export class MongoServerHarnessError extends Error {
  readonly code: MongoServerErrorCode;
  constructor(code: MongoServerErrorCode, message: string) {
    super(message);
    this.name = 'MongoServerHarnessError';
    this.code = code;
  }
}

const START_TIMEOUT_MS = Number(process.env.MONGO_SERVER_START_TIMEOUT_MS) || 30_000;
const STOP_TIMEOUT_MS = 5_000;
const MAX_STDERR_CHARS = 16_384;
const PORT_ATTEMPTS = 3;
/**
 * One wire worker thread (`io.netty.eventLoopThreads=1`): the test server then runs one command at a time,
 * which is still MongoDB's model (each command atomic on its document). With several, its in-memory backend
 * can change a document while another thread encodes a reply holding it (ConcurrentModificationException in
 * the encoder, logged by the server with slf4j-simple); the server then closes that connection, the driver
 * clears its pool, and a test sees `unavailable`: about one run in four of the 200-way concurrency cases on
 * a loaded 2-core machine, never with one thread (10 of 10, and faster).
 */
const JVM_OPTIONS = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xmx512m', '-Dio.netty.eventLoopThreads=1'];

export async function startMongoServer(opts: StartMongoServerOptions = {}): Promise<RunningMongoServer> {
  const external = process.env.MONGODB_URI;
  if (external !== undefined && external !== '') {
    return { uri: external, stop: async () => {} };
  }

  const jar = join(repoRoot(), '.tools', 'mongo-server', 'mongo-server.jar');
  if (!existsSync(jar)) {
    throw new MongoServerHarnessError(
      'mongo_server_missing',
      `test MongoDB server is not built (${jar} is missing): run scripts/install-mongo-server.sh`,
    );
  }

  const dataDir = opts.dataDir === undefined ? undefined : resolve(opts.dataDir);
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });

  let lastError: MongoServerHarnessError | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const result = await launch(jar, port, dataDir);
    if (!('error' in result)) return result;
    lastError = result.error;
    if (!result.portTaken) break;
  }
  throw lastError ?? new MongoServerHarnessError('mongo_server_start_failed', 'test MongoDB server did not start');
}

type LaunchResult = RunningMongoServer | { error: MongoServerHarnessError; portTaken: boolean };

async function launch(jar: string, port: number, dataDir: string | undefined): Promise<LaunchResult> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const args = [...JVM_OPTIONS, '-jar', jar, '--host', '127.0.0.1', '--port', String(port), '--exit-on-stdin-eof'];
  if (dataDir !== undefined) args.push('--data-dir', dataDir);

  // stdin stays open as a lifeline: the server exits when this process goes away.
  const child = spawn(java, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < MAX_STDERR_CHARS) stderr += chunk.slice(0, MAX_STDERR_CHARS - stderr.length);
  });
  child.stdout?.resume();

  let exited = false;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      exited = true;
      resolveExit();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = true;
      resolveExit();
    });
  });

  const uri = `mongodb://127.0.0.1:${port}/`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastPingError = '';
  while (!exited && Date.now() < deadline) {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 250, connectTimeoutMS: 250 });
    try {
      await client.db('admin').command({ ping: 1 });
      await client.close();
      detach(child);
      return { uri, ...(child.pid !== undefined ? { pid: child.pid } : {}), stop: stopper(child, exitPromise) };
    } catch (err) {
      lastPingError = err instanceof Error ? err.message : String(err);
      await client.close().catch(() => {});
    }
    await Promise.race([exitPromise, sleep(50)]);
  }

  if (spawnError !== undefined) {
    const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
    return {
      portTaken: false,
      error: new MongoServerHarnessError(
        missing ? 'mongo_server_missing' : 'mongo_server_start_failed',
        missing
          ? `cannot run ${java} (Java 17+ is needed for the test MongoDB server): ${spawnError.message}`
          : `cannot start the test MongoDB server: ${spawnError.message}`,
      ),
    };
  }
  const why = exited
    ? `exited with code ${child.exitCode ?? child.signalCode}`
    : `did not answer ping within ${START_TIMEOUT_MS} ms (last error: ${lastPingError})`;
  if (!exited) await stopper(child, exitPromise)();
  return {
    portTaken: exited && /address already in use/i.test(stderr),
    error: new MongoServerHarnessError(
      'mongo_server_start_failed',
      `test MongoDB server on port ${port} ${why}; its stderr:\n${stderr.trim() || '(empty)'}`,
    ),
  };
}

function stopper(child: ChildProcess, exitPromise: Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          exitPromise.then(() => false),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(true), STOP_TIMEOUT_MS);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      child.stdin?.destroy();
    })();
    return stopping;
  };
}

/** A forgotten stop() must not keep the test process alive; the stdin lifeline then ends the server. */
function detach(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no free port'))));
    });
  });
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'install-mongo-server.sh'))) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot locate the repository root from test/support/mongo-server');
    dir = parent;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
