// `allowance demo`: the whole story in one command. Starts a server on an ephemeral port over the in-memory
// store, sets up an org, a processor, an agent, an authority and a binding through the public API (with the
// typed client), authorizes a payment, shows the signed decision, verifies its proof against the JWKS and
// prints the curl commands it used.
// Exit status: 0 ok, 1 a step failed (an API error, a proof that does not verify), 2 usage error.
import { parseArgs } from 'node:util';
import {
  AllowanceApiError,
  type AllowanceClient,
  createAllowanceClient,
  type Decision,
  ProofVerificationError,
} from '../client/index.js';
import { loadConfig } from '../config/index.js';
import { silentLogger } from '../http/logger.js';
import { type RunningServer, startServer } from '../http/start-server.js';
import { serverStores } from './serve-command.js';

export const DEMO_USAGE = `usage: allowance demo [--json] [--keep]

Starts an Allowance server on 127.0.0.1 (ephemeral port, in-memory store, keys of this process), then
through the public API: the operator creates an org and a processor with a credential each; the enterprise
creates an agent, a spending authority and a binding of a card token; the processor authorizes a payment.
Prints the signed decision, verifies its proof against /.well-known/jwks.json, and prints every request as
a curl command.

options:
  --json      print one JSON document (ids, decision, proof check, curl commands) instead of the story
  --keep      keep the server running after the demo (until Ctrl-C), to try the curl commands and /docs
  -h, --help  this help

exit status: 0 ok, 1 a step failed, 2 usage error`;

export interface DemoIo {
  out(text: string): void;
  err(text: string): void;
  /** Resolves when the user stops a --keep demo. Default: SIGINT or SIGTERM. */
  waitForStop?: () => Promise<void>;
}

const processIo: DemoIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Quotes a string for a POSIX shell. */
const sh = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** A client whose requests are also written down as curl commands using `$<tokenVar>`. */
function recordedClient(
  baseUrl: string,
  credential: { key_id: string; secret: string },
  tokenVar: string,
  curls: string[],
): AllowanceClient {
  return createAllowanceClient({
    baseUrl,
    credential: { keyId: credential.key_id, secret: credential.secret },
    fetch: async (request) => {
      const body = request.method === 'GET' ? '' : await request.clone().text();
      const auth = request.headers.has('authorization') ? ` -H "Authorization: Bearer $${tokenVar}"` : '';
      const data = body ? ` -H 'content-type: application/json' -d ${sh(body)}` : '';
      curls.push(`curl -s -X ${request.method} ${sh(request.url)}${auth}${data}`);
      return fetch(request);
    },
  });
}

const TOKEN_RECIPE = `# A token is an HS256 JWT signed with the credential's secret (claims key_id, iat, exp), e.g. with node:
token() { node -e 'const c=require("node:crypto"),[k,s]=process.argv.slice(1),n=Math.floor(Date.now()/1e3),e=(o)=>Buffer.from(JSON.stringify(o)).toString("base64url"),i=e({alg:"HS256",typ:"JWT"})+"."+e({key_id:k,iat:n,exp:n+300});console.log(i+"."+c.createHmac("sha256",s).update(i).digest("base64url"))' "$1" "$2"; }`;

export async function runDemoCommand(argv: string[], io: DemoIo = processIo): Promise<number> {
  let values: { json?: boolean; keep?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`allowance demo: ${(err as Error).message}\n\n${DEMO_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${DEMO_USAGE}\n`);
    return 0;
  }
  const story = (text: string) => {
    if (!values.json) io.out(text);
  };

  // A throw-away server: random master key, generated operator, signing key of this process.
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    ALLOWANCE_STORE: 'memory',
    ...(process.env.ALLOWANCE_POLICY_BUNDLE ? { ALLOWANCE_POLICY_BUNDLE: process.env.ALLOWANCE_POLICY_BUNDLE } : {}),
  });
  let running: RunningServer | null = null;
  try {
    running = await startServer(config, { stores: serverStores, logger: silentLogger, announce: () => {} });
    const baseUrl = `http://127.0.0.1:${running.port}`;
    const op = running.generatedOperator;
    if (!op) throw new Error('the demo server has no generated operator credential');
    const curls: string[] = [];
    const operator = recordedClient(baseUrl, { key_id: op.keyId, secret: op.secret }, 'OPERATOR_TOKEN', curls);
    story(`Allowance demo: a server on ${baseUrl} (in-memory store, keys of this process)\n\n`);

    story('1. The operator creates an org and a payment processor, and a credential for each.\n');
    const org = operator.unwrap(await operator.api.POST('/v1/orgs', { body: { name: 'Acme Corp' } }));
    const processor = operator.unwrap(await operator.api.POST('/v1/processors', { body: { name: 'Card processor' } }));
    const enterpriseCred = operator.unwrap(
      await operator.api.POST('/v1/orgs/{id}/credentials', {
        params: { path: { id: org.id } },
        body: { name: 'acme-admin' },
      }),
    );
    const processorCred = operator.unwrap(
      await operator.api.POST('/v1/processors/{id}/credentials', { params: { path: { id: processor.id } } }),
    );
    story(`   org ${org.id}, processor ${processor.id}\n`);
    story(`   enterprise credential ${enterpriseCred.key_id}, processor credential ${processorCred.key_id}\n\n`);

    const enterprise = recordedClient(baseUrl, enterpriseCred, 'ENTERPRISE_TOKEN', curls);
    story('2. The enterprise creates an agent, a spending authority and binds a card token to them.\n');
    const agent = enterprise.unwrap(
      await enterprise.api.POST('/v1/agents', { body: { name: 'procurement-bot', owner: 'it@acme.example' } }),
    );
    const authority = enterprise.unwrap(
      await enterprise.api.POST('/v1/authorities', {
        body: {
          agent_id: agent.id,
          currency: 'USD',
          time_zone: 'America/New_York',
          limits: { per_transaction: 50_000, daily: 100_000, monthly: 1_000_000 },
          merchant_rules: { block_mcc: ['7995'] },
        },
      }),
    );
    const binding = enterprise.unwrap(
      await enterprise.api.POST('/v1/bindings', {
        body: {
          agent_id: agent.id,
          authority_id: authority.id,
          processor_id: processor.id,
          credential: { type: 'network_token', reference: 'tok_visa_4242', last4: '4242' },
        },
      }),
    );
    story(`   agent ${agent.id}, authority ${authority.id} (USD 500.00 per payment, 1,000.00 a day)\n`);
    story(`   binding ${binding.id} of card token tok_visa_4242\n\n`);

    const processorClient = recordedClient(baseUrl, processorCred, 'PROCESSOR_TOKEN', curls);
    story('3. The processor asks whether the agent may pay USD 18.50 at an electronics store.\n');
    const decision: Decision = await processorClient.authorize({
      authorization_id: 'pa_demo_0001',
      credential_reference: 'tok_visa_4242',
      amount: 1850,
      currency: 'USD',
      merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    });
    story(
      `   decision: ${decision.action}${decision.reason_codes.length ? ` (${decision.reason_codes.join(', ')})` : ''}\n`,
    );
    story(`${JSON.stringify(decision, null, 2).replace(/^/gm, '   ')}\n\n`);

    story('4. The processor verifies the proof (compact JWS, EdDSA) against the JWKS.\n');
    const [header] = decision.proof.split('.');
    const verified = await processorClient.verifyDecision(decision);
    const jwks = await processorClient.jwks();
    story(`   JWS header ${Buffer.from(header ?? '', 'base64url').toString('utf8')}\n`);
    story(`   signature valid with key ${verified.kid} of /.well-known/jwks.json (${jwks.keys.length} key)\n`);
    story('   the signed payload equals every field of the decision but the proof\n\n');

    if (values.json) {
      io.out(
        `${JSON.stringify(
          {
            server: baseUrl,
            org_id: org.id,
            processor_id: processor.id,
            agent_id: agent.id,
            authority_id: authority.id,
            binding_id: binding.id,
            decision,
            proof: { verified: true, kid: verified.kid, payload: verified.payload },
            curl: curls,
          },
          null,
          2,
        )}\n`,
      );
    } else {
      story('5. The same requests with curl:\n\n');
      story(`${TOKEN_RECIPE}\n`);
      story(`OPERATOR_TOKEN=$(token ${op.keyId} ${sh(op.secret)})\n`);
      story(`ENTERPRISE_TOKEN=$(token ${enterpriseCred.key_id} ${sh(enterpriseCred.secret)})\n`);
      story(`PROCESSOR_TOKEN=$(token ${processorCred.key_id} ${sh(processorCred.secret)})\n\n`);
      story(`${curls.join('\n')}\n\n`);
    }
    if (values.keep) {
      story(`The server keeps running on ${baseUrl} (API explorer: ${baseUrl}/docs). Ctrl-C stops it.\n`);
      await (io.waitForStop ?? waitForSignal)();
    } else {
      story('The server stops now (allowance demo --keep leaves it running to try the commands above).\n');
    }
    return 0;
  } catch (err) {
    if (err instanceof AllowanceApiError) io.err(`allowance demo: the API refused a step: ${err.message}\n`);
    else if (err instanceof ProofVerificationError) io.err(`allowance demo: ${err.message}\n`);
    else io.err(`allowance demo: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  } finally {
    await running?.shutdown(1_000);
  }
}

function waitForSignal(): Promise<void> {
  return new Promise((ok) => {
    process.once('SIGINT', () => ok());
    process.once('SIGTERM', () => ok());
  });
}
