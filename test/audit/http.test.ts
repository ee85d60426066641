import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AuditEvent } from '../../src/audit/index.js';
import { generateSigningKey, toJwks } from '../../src/crypto/index.js';
import { makeDrafts, runAuditCli, tempDir, verifyWithCli } from '../support/audit-chain.js';
import { clientToken, makeWorld, OPERATOR_CRED, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { assertMatches } from '../support/response-schemas.js';

let t: TestApp;
let w: World;
let other: World;
let events: AuditEvent[];
let files: { dir: string; cleanup: () => Promise<void> };

const drain = () => t.app.services.engine.audit.chainer.drain();

const s = suite('audit HTTP API');

s.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t, 'Audited');
  other = await makeWorld(t, 'Other');
  await t.store.appendAuditDrafts(makeDrafts(w.orgId, 30));
  await t.store.appendAuditDrafts(makeDrafts(other.orgId, 5));
  await drain();
  const all = await t.call('GET', '/v1/audit?limit=1000', { auth: w.enterprise });
  events = all.body.items;
  files = await tempDir();
});
s.after(async () => {
  await t.close();
  await files.cleanup();
});

const get = (path: string, auth = w.enterprise) => t.call('GET', path, { auth });

s('GET /v1/audit lists the org chain in ascending seq, schema-valid, only its own org', async () => {
  // The org's own setup (org and credential creation) is in the chain too, before the test drafts.
  assert.ok(events.length >= 30);
  assert.equal(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
  );
  assert.ok(events.every((e) => e.org_id === w.orgId));
  const res = await get('/v1/audit');
  assert.is(res.status, 200, res.text);
  assertMatches('AuditEventPage', res.body);
  assert.is(res.body.items.length, Math.min(50, events.length));
  const theirs = await get('/v1/audit', other.enterprise);
  assert.ok(theirs.body.items.every((e: AuditEvent) => e.org_id === other.orgId));
  assert.ok(theirs.body.items.length >= 5);
});

s('cursor pages through everything once, in order', async () => {
  const seen: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await get(`/v1/audit?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    assert.is(res.status, 200, res.text);
    seen.push(...res.body.items.map((e: AuditEvent) => e.seq));
    cursor = res.body.next_cursor;
    pages++;
  } while (cursor !== null && pages < 100);
  assert.equal(
    seen,
    events.map((e) => e.seq),
  );
});

s('filters: type, agent_id, subject_id, time range [from, to), combined', async () => {
  const ours = events
    .filter((e) => e.actor === 'key_test' || e.actor === 'system')
    .filter((e) => e.subject.kind === 'thing');
  const byType = await get('/v1/audit?type=binding.suspended&limit=1000');
  assert.equal(
    byType.body.items.map((e: AuditEvent) => e.id),
    events.filter((e) => e.type === 'binding.suspended').map((e) => e.id),
  );
  assert.ok(byType.body.items.length > 0);
  const byAgent = await get('/v1/audit?agent_id=agt_beta&limit=1000');
  assert.equal(
    byAgent.body.items.map((e: AuditEvent) => e.id),
    events.filter((e) => e.agent_id === 'agt_beta').map((e) => e.id),
  );
  const bySubject = await get('/v1/audit?subject_id=sub_2&limit=1000');
  assert.equal(
    bySubject.body.items.map((e: AuditEvent) => e.id),
    events.filter((e) => e.subject.id === 'sub_2').map((e) => e.id),
  );
  // Drafts are one second apart from 2026-03-01T10:00:00Z; `to` is exclusive, offsets are normalized.
  const range = await get(`/v1/audit?from=${encodeURIComponent('2026-03-01T11:00:05+01:00')}&to=2026-03-01T10:00:10Z`);
  assert.equal(
    range.body.items.map((e: AuditEvent) => e.at),
    ours.filter((e) => e.at >= '2026-03-01T10:00:05.000Z' && e.at < '2026-03-01T10:00:10.000Z').map((e) => e.at),
  );
  assert.is(range.body.items.length, 5);
  const combined = await get('/v1/audit?agent_id=agt_alpha&type=agent.created&from=2026-03-01T10:00:00Z&limit=2');
  assert.is(combined.body.items.length, 2);
  assert.ok(combined.body.items.every((e: AuditEvent) => e.agent_id === 'agt_alpha' && e.type === 'agent.created'));
  assert.ok(combined.body.next_cursor);
  const next = await get(`/v1/audit?agent_id=agt_alpha&type=agent.created&limit=2&cursor=${combined.body.next_cursor}`);
  assert.ok(next.body.items.every((e: AuditEvent) => e.seq > Number(combined.body.next_cursor)));
});

s('validation: bad limit, cursor, type, time, unknown parameter are 422', async () => {
  for (const q of [
    'limit=0',
    'limit=1001',
    'limit=abc',
    'cursor=abc',
    'cursor=-1',
    'type=nope.nothing',
    'from=yesterday',
    'to=2026-13-01T00:00:00Z',
    'agent_id=Not%20An%20Id',
    'bogus=1',
  ]) {
    const res = await get(`/v1/audit?${q}`);
    assert.is(res.status, 422, `${q}: ${res.text}`);
    assert.is(res.body.error.code, 'validation_failed');
  }
  const repeated = await get('/v1/audit?type=agent.created&type=token.issued');
  assert.is(repeated.status, 422);
  for (const q of ['format=xml', 'from_seq=0', 'to_seq=abc', 'from_seq=5&to_seq=4']) {
    const res = await get(`/v1/audit/export?${q}`);
    assert.is(res.status, 422, `${q}: ${res.text}`);
  }
});

s('roles: processor and operator are refused, no credential is 401', async () => {
  for (const path of ['/v1/audit', '/v1/audit/export', '/v1/audit/verify']) {
    assert.is((await get(path, w.processor)).status, 403, path);
    assert.is((await get(path, OPERATOR_CRED)).status, 403, path);
    assert.is((await t.call('GET', path)).status, 401, path);
  }
});

s('GET /v1/audit/verify reports an intact chain', async () => {
  const res = await get('/v1/audit/verify');
  assert.is(res.status, 200, res.text);
  assertMatches('AuditVerifyResult', res.body);
  const last = events[events.length - 1] as AuditEvent;
  assert.equal(res.body, {
    ok: true,
    checked: events.length,
    head_seq: last.seq,
    head_hash: last.hash,
    first_bad_seq: null,
    reason: null,
    detail: null,
  });
});

s('GET /v1/audit/export streams JSON and CSV with a file name; both verify offline with the JWKS', async () => {
  const jwks = (await t.call('GET', '/.well-known/jwks.json')).body;
  for (const format of ['json', 'csv'] as const) {
    const res = await fetch(`${t.url}/v1/audit/export?format=${format}`, {
      headers: { authorization: `Bearer ${clientToken(w.enterprise)}` },
    });
    assert.is(res.status, 200);
    assert.is(
      res.headers.get('content-type'),
      format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
    );
    assert.match(
      res.headers.get('content-disposition') ?? '',
      new RegExp(`^attachment; filename="audit-${w.orgId}-\\d{8}T\\d{6}Z\\.${format}"$`),
    );
    assert.is(res.headers.get('transfer-encoding'), 'chunked');
    assert.ok(res.headers.get('request-id'));
    const file = join(files.dir, `export.${format}`);
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
    const cli = await verifyWithCli(file, jwks);
    assert.is(cli.code, 0, cli.stdout + cli.stderr);
    assert.equal(
      [cli.report.ok, cli.report.format, cli.report.org_id, cli.report.checked, cli.report.checkpoint.signature],
      [true, format, w.orgId, events.length, 'valid'],
    );
    // A JWKS without the server's key: the signature cannot be proven.
    const stranger = await verifyWithCli(file, toJwks([generateSigningKey()]));
    assert.is(stranger.code, 1);
    assert.equal(
      [stranger.report.reason, stranger.report.checkpoint.problem],
      ['checkpoint_invalid', 'signature: unknown_kid'],
    );
    // The server's kid with another key's material: a bad signature.
    const impostor = toJwks([generateSigningKey()]).keys.map((k) => ({ ...k, kid: jwks.keys[0].kid }));
    const bad = await verifyWithCli(file, { keys: impostor });
    assert.is(bad.code, 1);
    assert.is(bad.report.checkpoint.problem, 'signature: bad_signature');
    // Without the JWKS: the chain and the (unproven) checkpoint are checked.
    const plain = await runAuditCli(['verify', file]);
    assert.is(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^OK /);
    assert.match(plain.stdout, /signature not checked/);
  }
});

s('export range: from_seq / to_seq', async () => {
  const res = await get('/v1/audit/export?from_seq=3&to_seq=9');
  assert.is(res.status, 200, res.text);
  assert.equal(
    res.body.events.map((e: AuditEvent) => e.seq),
    [3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal([res.body.from_seq, res.body.to_seq], [3, 9]);
  assertMatches('AuditExport', res.body);
});

s('a range past the head exports an empty, verifiable file', async () => {
  const res = await get('/v1/audit/export?format=csv&from_seq=100000');
  assert.is(res.status, 200);
  const file = join(files.dir, 'empty.csv');
  await writeFile(file, res.text);
  const cli = await verifyWithCli(file, (await t.call('GET', '/.well-known/jwks.json')).body);
  assert.is(cli.code, 0, cli.stdout);
  assert.equal([cli.report.checked, cli.report.head_seq], [0, 99_999]);
});

s('CLI usage and format errors exit 2', async () => {
  const junk = join(files.dir, 'junk.txt');
  await writeFile(junk, 'not an export\n');
  for (const args of [
    [],
    ['verify'],
    ['frobnicate', junk],
    ['verify', junk],
    ['verify', join(files.dir, 'missing.json')],
    ['verify', junk, '--jwks'],
  ]) {
    const run = await runAuditCli(args);
    assert.is(run.code, 2, `${args.join(' ')}: ${run.stdout} ${run.stderr}`);
  }
  const json = join(files.dir, 'export.json');
  const noJwks = await runAuditCli(['verify', json, '--jwks', junk]);
  assert.is(noJwks.code, 2, noJwks.stderr);
});

s('/openapi.json documents the audit routes, their queries and both export media types', async () => {
  const doc = (await t.call('GET', '/openapi.json')).body;
  const list = doc.paths['/v1/audit'].get;
  assert.equal(list.parameters.map((p: { name: string }) => p.name).sort(), [
    'agent_id',
    'cursor',
    'from',
    'limit',
    'subject_id',
    'to',
    'type',
  ]);
  const exp = doc.paths['/v1/audit/export'].get.responses['200'].content;
  assert.ok(exp['application/json'] && exp['text/csv']);
  assert.ok(doc.paths['/v1/audit/verify'].get);
  assert.ok(doc.components.schemas.AuditEvent && doc.components.schemas.AuditVerifyResult);
});

s.run();
