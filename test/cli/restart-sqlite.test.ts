import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createAllowanceClient } from '../../src/client/index.js';

const CLI = fileURLToPath(new URL('../../src/cli/allowance.js', import.meta.url));
const OPERATOR = { keyId: 'op_restart1', secret: `sk_${'r'.repeat(40)}` };

interface Server {
  child: ChildProcess;
  port: number;
  logs: () => string;
}

/** `allowance serve` with no store or key configured but a data directory: the durable default. */
async function serve(dataDir: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env, ALLOWANCE_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  for (const name of ['MONGODB_URI', 'ALLOWANCE_STORE', 'ALLOWANCE_MASTER_KEY', 'ALLOWANCE_SIGNING_KEY_FILE']) {
    delete env[name];
  }
  Object.assign(env, {
    ALLOWANCE_OPERATOR_KEY_ID: OPERATOR.keyId,
    ALLOWANCE_OPERATOR_SECRET: OPERATOR.secret,
    ALLOWANCE_WEBHOOK_ALLOW_HTTP: 'true',
    ALLOWANCE_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--host', '127.0.0.1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stderr?.on('data', (c: Buffer) => {
    logs += c.toString();
  });
  const port = await new Promise<number>((ok, fail) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      logs += chunk.toString();
      for (const line of logs.split('\n')) {
        try {
          const r = JSON.parse(line);
          if (Object.values(r).includes('listening') && typeof r.port === 'number') ok(r.port);
        } catch {}
      }
    });
    child.on('exit', () => fail(new Error(`serve exited early: ${logs}`)));
  });
  return { child, port, logs: () => logs };
}

async function kill9(server: Server): Promise<void> {
  const exited = new Promise((ok) => server.child.on('exit', ok));
  server.child.kill('SIGKILL');
  await exited;
}

const restart = suite('restart on the SQLite default');

restart('after kill -9 everything is there; the same authorization id replays the same decision', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-restart-'));
  let server: Server | null = null;
  try {
    server = await serve(dir);
    const logs = server.logs();
    assert.match(logs, /"store":"sqlite"/);
    assert.match(logs, /"key_generated"/);
    for (const name of ['allowance.db', 'master.key', 'signing-key.pem']) {
      const s = await stat(join(dir, name));
      if (name !== 'allowance.db') assert.is(s.mode & 0o777, 0o600, `${name} mode`);
    }
    let base = `http://127.0.0.1:${server.port}`;
    const operator = createAllowanceClient({ baseUrl: base, credential: OPERATOR });
    const org = operator.unwrap(await operator.api.POST('/v1/orgs', { body: { name: 'Acme' } }));
    const processor = operator.unwrap(await operator.api.POST('/v1/processors', { body: { name: 'Processor' } }));
    const entCred = operator.unwrap(
      await operator.api.POST('/v1/orgs/{id}/credentials', { params: { path: { id: org.id } }, body: { name: 'x' } }),
    );
    const prcCred = operator.unwrap(
      await operator.api.POST('/v1/processors/{id}/credentials', { params: { path: { id: processor.id } } }),
    );
    const entCredential = { keyId: entCred.key_id, secret: entCred.secret };
    const prcCredential = { keyId: prcCred.key_id, secret: prcCred.secret };
    let enterprise = createAllowanceClient({ baseUrl: base, credential: entCredential });
    const agent = enterprise.unwrap(await enterprise.api.POST('/v1/agents', { body: { name: 'bot' } }));
    const authority = enterprise.unwrap(
      await enterprise.api.POST('/v1/authorities', {
        body: { agent_id: agent.id, currency: 'USD', limits: { per_transaction: 50_000, daily: 100_000 } },
      }),
    );
    enterprise.unwrap(
      await enterprise.api.POST('/v1/bindings', {
        body: {
          agent_id: agent.id,
          authority_id: authority.id,
          processor_id: processor.id,
          credential: { type: 'network_token', reference: 'tok_restart', last4: '4242' },
        },
      }),
    );
    const hook = enterprise.unwrap(
      await enterprise.api.POST('/v1/webhooks', { body: { url: 'http://127.0.0.1:9/hook', events: ['*'] } }),
    );
    const request = {
      authorization_id: 'pa_restart_1',
      credential_reference: 'tok_restart',
      amount: 1850,
      currency: 'USD',
      merchant: { id: 'mer_1', name: 'Store', mcc: '5734', country: 'US' },
    };
    let processorClient = createAllowanceClient({ baseUrl: base, credential: prcCredential });
    const first = await processorClient.authorize(request);
    assert.is(first.action, 'ALLOW');
    const usageBefore = enterprise.unwrap(
      await enterprise.api.GET('/v1/authorities/{id}/usage', { params: { path: { id: authority.id } } }),
    );

    await kill9(server);
    server = await serve(dir);
    assert.not.match(server.logs(), /"key_generated"/, 'keys are generated once');
    base = `http://127.0.0.1:${server.port}`;
    enterprise = createAllowanceClient({ baseUrl: base, credential: entCredential });
    processorClient = createAllowanceClient({ baseUrl: base, credential: prcCredential });

    const replay = await processorClient.authorize(request);
    assert.is(replay.decision_id, first.decision_id, 'the same decision');
    assert.is(replay.proof, first.proof);
    await processorClient.verifyDecision(replay);
    const usageAfter = enterprise.unwrap(
      await enterprise.api.GET('/v1/authorities/{id}/usage', { params: { path: { id: authority.id } } }),
    );
    assert.equal(usageAfter, usageBefore);
    const hooks = enterprise.unwrap(await enterprise.api.GET('/v1/webhooks', { params: { query: {} } }));
    assert.equal(
      hooks.items.map((h: { id: string }) => h.id),
      [hook.id],
    );
    assert.ok((await enterprise.api.GET('/v1/agents/{id}', { params: { path: { id: agent.id } } })).data);
    const verified = enterprise.unwrap(await enterprise.api.GET('/v1/audit/verify', {}));
    assert.ok(verified.ok, JSON.stringify(verified));
    assert.ok(verified.checked > 0, 'the chain holds the events of before the kill');
  } finally {
    if (server) await kill9(server);
    await rm(dir, { recursive: true, force: true });
  }
});

restart.run();
