import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CREDENTIAL_COLLECTION_NAMES } from '../../adapters/mongodb/index.js';
import { generateSigningKey, signingKeyToPem } from '../../src/crypto/index.js';
import { clientToken, type TestCredential } from '../support/http-app.js';
import { freshDbName, testMongoServer } from '../support/mongo-target.js';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'server.js');
const OPERATOR: TestCredential = { key_id: 'op_mongocheck', secret: `sk_${'m'.repeat(40)}` };

/** `uri` with its database replaced by `dbName` (options kept). */
function withDatabase(uri: string, dbName: string): string {
  const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`unexpected MongoDB URI ${uri}`);
  return `${m[1]}/${dbName}${m[2] ?? ''}`;
}

interface Running {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Runs the server CLI (`npm start`) with `env`; resolves once it logs `listening`. */
function startCli(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<Running>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 30_000);
    exited.then(() => reject(new Error(`the server exited:\n${output}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      output += `${line}\n`;
      let record: { event?: string; port?: number; store?: string };
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.event !== 'listening') return;
      clearTimeout(timer);
      assert.is(record.store, 'mongodb');
      resolve({
        url: `http://127.0.0.1:${record.port}`,
        child,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

async function call(
  url: string,
  method: string,
  path: string,
  auth?: TestCredential,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Bearer ${clientToken(auth)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const cli = suite('server CLI on MongoDB (MONGODB_URI)');

cli('serves on MongoDB; credentials live in the database and survive a restart', async () => {
  const { uri } = await testMongoServer();
  const dbName = freshDbName('allowance_cli');
  // MONGODB_URI needs both keys: every restart must open the same secrets and sign with the same key.
  const signingKeyFile = join(await mkdtemp(join(tmpdir(), 'allowance-cli-')), 'signing.pem');
  await writeFile(signingKeyFile, signingKeyToPem(generateSigningKey()));
  const env = {
    MONGODB_URI: withDatabase(uri, dbName),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ALLOWANCE_MASTER_KEY: randomBytes(32).toString('hex'),
    ALLOWANCE_SIGNING_KEY_FILE: signingKeyFile,
    ALLOWANCE_OPERATOR_KEY_ID: OPERATOR.key_id,
    ALLOWANCE_OPERATOR_SECRET: OPERATOR.secret,
    ALLOWANCE_SPOOL_DIR: await mkdtemp(join(tmpdir(), 'allowance-spool-')),
  };
  const client = new MongoClient(uri);
  let server = await startCli(env);
  try {
    const ready = await call(server.url, 'GET', '/readyz');
    assert.is(ready.status, 200);
    assert.is(ready.body.status, 'ready');
    const org = await call(server.url, 'POST', '/v1/orgs', OPERATOR, { name: 'Acme' });
    assert.is(org.status, 201, JSON.stringify(org.body));
    const cred = await call(server.url, 'POST', `/v1/orgs/${org.body.id}/credentials`, OPERATOR, { name: 'ci' });
    assert.is(cred.status, 201, JSON.stringify(cred.body));
    const enterprise: TestCredential = { key_id: cred.body.key_id, secret: cred.body.secret };
    const agent = await call(server.url, 'POST', '/v1/agents', enterprise, { name: 'buyer' });
    assert.is(agent.status, 201, JSON.stringify(agent.body));

    // The credential is a document of the server's database, sealed, without the secret in clear.
    const stored = await client
      .db(dbName)
      .collection(CREDENTIAL_COLLECTION_NAMES.credentials)
      .findOne({ key_id: enterprise.key_id });
    assert.ok(stored, 'credential not stored in MongoDB');
    assert.not.ok(JSON.stringify(stored).includes(enterprise.secret));

    await server.stop();
    server = await startCli(env);
    const agents = await call(server.url, 'GET', '/v1/agents', enterprise);
    assert.is(agents.status, 200, JSON.stringify(agents.body));
    assert.equal(
      agents.body.items.map((a: { id: string }) => a.id),
      [agent.body.id],
    );
  } finally {
    await server.stop();
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => {});
    await client.close();
  }
});

cli.run();
