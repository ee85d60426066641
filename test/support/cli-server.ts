/**
 * The server CLI (`npm start`) as a child process, a world set up through its API, and a keep-alive load
 * that records what happened to every request: for shutdown and crash tests that need a real process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, signingKeyToPem } from '../../src/crypto/index.js';
import { authorizeBody, clientToken, type TestCredential } from './http-app.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'server.js');

/** A running server process. */
export interface CliServer {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Request ids of every request the server logged (its access log: one line per request it handled). */
  loggedRequestIds: Set<string>;
  /** Everything the process printed so far. */
  output(): string;
  /** Its stand-in spool directory: a server restarted in its place takes it over (and drains what it left). */
  spoolDir: string;
}

/**
 * Runs the server CLI with `env` on top of this process's environment; resolves once it logs `listening`.
 * Without a store named in `env` it runs on the memory store (never a database in the working directory).
 * Without a spool directory or a data directory in `env` it gets a spool directory of its own (one server
 * process per spool directory).
 */
export function startCli(env: Record<string, string>, timeoutMs = 60_000): Promise<CliServer> {
  const named =
    env.MONGODB_URI !== undefined || env.ALLOWANCE_STORE !== undefined || env.ALLOWANCE_DATA_DIR !== undefined;
  const spoolDir =
    env.ALLOWANCE_SPOOL_DIR ??
    (env.ALLOWANCE_DATA_DIR !== undefined
      ? join(env.ALLOWANCE_DATA_DIR, 'spool')
      : join(mkdtempSync(join(tmpdir(), 'allowance-cli-')), 'spool'));
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      ...(named ? {} : { ALLOWANCE_STORE: 'memory' }),
      ALLOWANCE_SPOOL_DIR: spoolDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const loggedRequestIds = new Set<string>();
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise<CliServer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), timeoutMs);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the server exited:\n${output}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output += `${line}\n`;
      let record: { event?: string; port?: number; request_id?: string };
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.event === 'request' && record.request_id) loggedRequestIds.add(record.request_id);
      if (record.event !== 'listening') return;
      clearTimeout(timer);
      resolve({
        url: `http://127.0.0.1:${record.port}`,
        child,
        exited,
        loggedRequestIds,
        output: () => output,
        spoolDir,
      });
    });
  });
}

/** A JSON call with a fresh client token (no keep-alive: set-up traffic only). */
export async function callJson(
  url: string,
  method: string,
  path: string,
  auth?: TestCredential,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Bearer ${clientToken(auth)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

/** What a spending world made through the API holds. */
export interface CliWorld {
  orgId: string;
  processorId: string;
  authorityId: string;
  enterprise: TestCredential;
  processor: TestCredential;
  reference: string;
}

/** An org, a processor, their credentials, an agent, an authority with `limits` and a binding. */
export async function setupCliWorld(
  url: string,
  operator: TestCredential,
  limits: Record<string, number>,
): Promise<CliWorld> {
  const must = async (p: Promise<{ status: number; body: unknown; text: string }>, status = 201) => {
    const res = await p;
    if (res.status !== status) throw new Error(`set-up failed: ${res.status} ${res.text}`);
    // biome-ignore lint/suspicious/noExplicitAny: set-up reads arbitrary JSON
    return res.body as any;
  };
  const org = await must(callJson(url, 'POST', '/v1/orgs', operator, { name: 'Acme' }));
  const processor = await must(callJson(url, 'POST', '/v1/processors', operator, { name: 'Acme Pay' }));
  const enterprise = await must(callJson(url, 'POST', `/v1/orgs/${org.id}/credentials`, operator, { name: 'ops' }));
  const processorCred = await must(callJson(url, 'POST', `/v1/processors/${processor.id}/credentials`, operator));
  const agent = await must(callJson(url, 'POST', '/v1/agents', enterprise, { name: 'buyer' }));
  const authority = await must(
    callJson(url, 'POST', '/v1/authorities', enterprise, { agent_id: agent.id, currency: 'USD', limits }),
  );
  const reference = `tok_${randomBytes(8).toString('hex')}`;
  await must(
    callJson(url, 'POST', '/v1/bindings', enterprise, {
      agent_id: agent.id,
      authority_id: authority.id,
      processor_id: processor.id,
      credential: { type: 'network_token', reference },
    }),
  );
  return {
    orgId: org.id,
    processorId: processor.id,
    authorityId: authority.id,
    enterprise,
    processor: processorCred,
    reference,
  };
}

/** One request of a load: when it started, and what came back. */
export interface LoadResult {
  requestId: string;
  authorizationId: string;
  amount: number;
  /** performance.now() when it was sent. */
  startedAt: number;
  /** performance.now() when the response ended or the request failed. */
  finishedAt: number;
  status: number | null;
  /** The Connection response header. */
  connection: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: the decision as returned
  body: any;
  /** The socket error (e.g. ECONNRESET, ECONNREFUSED) when no response came back. */
  error: string | null;
}

/**
 * `connections` loops, each sending one authorization after another on keep-alive sockets (one Agent),
 * until stopped. Every request carries its own Request-Id, so it can be matched with the server's log.
 */
export function keepAliveAuthorizeLoad(options: {
  url: string;
  processor: TestCredential;
  reference: string;
  connections: number;
  amount?: number;
}): { results: LoadResult[]; stop(): Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const target = new URL(options.url);
  const results: LoadResult[] = [];
  let running = true;
  const token = () => clientToken(options.processor);
  const once = () =>
    new Promise<LoadResult>((resolve) => {
      const body = authorizeBody(options.reference, options.amount === undefined ? {} : { amount: options.amount });
      const payload = JSON.stringify(body);
      const result: LoadResult = {
        requestId: `load_${randomBytes(8).toString('hex')}`,
        authorizationId: body.authorization_id as string,
        amount: body.amount as number,
        startedAt: performance.now(),
        finishedAt: 0,
        status: null,
        connection: null,
        body: null,
        error: null,
      };
      const req = request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path: '/v1/authorize',
          headers: {
            authorization: `Bearer ${token()}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            'request-id': result.requestId,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => {
            result.status = res.statusCode ?? null;
            result.connection = (res.headers.connection as string | undefined) ?? null;
            try {
              result.body = JSON.parse(text);
            } catch {
              result.body = text;
            }
            resolve(result);
          });
          res.on('error', (err: NodeJS.ErrnoException) => {
            result.error = err.code ?? err.message;
            resolve(result);
          });
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        result.error = err.code ?? err.message;
        resolve(result);
      });
      req.end(payload);
    });
  const loops = Array.from({ length: options.connections }, async () => {
    while (running) {
      const r = await once();
      r.finishedAt = performance.now();
      results.push(r);
      // A refused connection means the listener is gone: this loop is done.
      if (r.error === 'ECONNREFUSED') return;
    }
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/**
 * The requests reset: every request that got no response other than by a refused connection (the listener
 * closed). A reset hits a request the server had read, or had in its socket's receive buffer: either way
 * the client sent it on a connection the server had accepted, and got no answer.
 */
export function requestsReset(results: LoadResult[]): LoadResult[] {
  return results.filter((r) => r.status === null && r.error !== 'ECONNREFUSED');
}

/** `uri` with its database replaced by `dbName` (options kept). */
export function withDatabase(uri: string, dbName: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`unexpected MongoDB URI ${uri}`);
  return `${m[1]}/${dbName}${m[2] ?? ''}`;
}

/**
 * The environment of servers sharing one MongoDB database: the same master key, signing key and operator
 * credential (the signing key written to a fresh temporary file).
 */
export async function sharedServerEnv(
  uri: string,
  dbName: string,
): Promise<{ env: Record<string, string>; operator: TestCredential }> {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-server-'));
  const signingKeyFile = join(dir, 'signing.pem');
  await writeFile(signingKeyFile, signingKeyToPem(generateSigningKey()));
  const operator: TestCredential = { key_id: 'op_faults', secret: `sk_${randomBytes(24).toString('hex')}` };
  return {
    operator,
    env: {
      MONGODB_URI: withDatabase(uri, dbName),
      ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex'),
      ALLOWANCE_SIGNING_KEY_FILE: signingKeyFile,
      ALLOWANCE_OPERATOR_KEY_ID: operator.key_id,
      ALLOWANCE_OPERATOR_SECRET: operator.secret,
      ALLOWANCE_RATE_LIMIT_RPS: '1000000',
      ALLOWANCE_RATE_LIMIT_BURST: '1000000',
    },
  };
}
