/**
 * Tampering with the stored chain, directly in each adapter's backing store: GET /v1/audit/verify names
 * exactly the seq that was changed, deleted or reordered, and the offline CLI, run as a child process on
 * the export of the same tampered chain (JSON and CSV), names the same seq.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { COLLECTION_NAMES } from '../../adapters/mongodb/index.js';
import { makeDrafts, tempDir, verifyWithCli } from '../support/audit-chain.js';
import { makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';
import { mongoTarget } from '../support/mongo-target.js';

/** Direct access to one org's stored events, bypassing the adapter. */
interface BackingStore {
  change(orgId: string, seq: number): Promise<void>;
  remove(orgId: string, seq: number): Promise<void>;
  swap(orgId: string, seq: number, other: number): Promise<void>;
}

interface Target {
  t: TestApp;
  backing: BackingStore;
  cleanup(): Promise<void>;
}

const K = 7;
const N = 20;

async function memoryTarget(): Promise<Target> {
  const t = await startTestApp();
  const store = t.store;
  return {
    t,
    backing: {
      async change(orgId, seq) {
        store.tamperAuditEvent(orgId, seq, (e) => {
          e.payload = { ...e.payload, amount: 999_999 };
          return e;
        });
      },
      async remove(orgId, seq) {
        store.deleteAuditEvent(orgId, seq);
      },
      async swap(orgId, seq, other) {
        store.swapAuditEvents(orgId, seq, other);
      },
    },
    cleanup: () => t.close(),
  };
}

async function mongoDbTarget(): Promise<Target> {
  const target = await mongoTarget();
  const t = await startTestApp({}, target.adapter);
  const client = new MongoClient(target.uri);
  const events = client.db(target.dbName).collection(COLLECTION_NAMES.auditEvents);
  return {
    t,
    backing: {
      async change(orgId, seq) {
        const r = await events.updateOne({ org_id: orgId, seq }, { $set: { 'payload.amount': 999_999 } });
        assert.is(r.modifiedCount, 1);
      },
      async remove(orgId, seq) {
        const r = await events.deleteOne({ org_id: orgId, seq });
        assert.is(r.deletedCount, 1);
      },
      async swap(orgId, seq, other) {
        // Through a free seq: (org_id, seq) is unique.
        const a = (await events.findOne({ org_id: orgId, seq })) as Document;
        const b = (await events.findOne({ org_id: orgId, seq: other })) as Document;
        await events.updateOne({ _id: a._id }, { $set: { seq: -1 } });
        await events.updateOne({ _id: b._id }, { $set: { seq } });
        await events.updateOne({ _id: a._id }, { $set: { seq: other } });
      },
    },
    async cleanup() {
      await t.close();
      await client.close();
      await target.cleanup?.();
    },
  };
}

const TAMPERINGS = [
  { name: 'change', reason: 'hash_mismatch', apply: (b: BackingStore, org: string) => b.change(org, K) },
  { name: 'delete', reason: 'seq_gap', apply: (b: BackingStore, org: string) => b.remove(org, K) },
  { name: 'reorder', reason: 'hash_mismatch', apply: (b: BackingStore, org: string) => b.swap(org, K, K + 1) },
] as const;

for (const [adapter, open] of [
  ['memory', memoryTarget],
  ['mongodb', mongoDbTarget],
] as const) {
  const s = suite(`audit tampering: ${adapter}`);
  let target: Target;
  let files: { dir: string; cleanup: () => Promise<void> };
  s.before(async () => {
    target = await open();
    files = await tempDir();
  });
  s.after(async () => {
    await target.cleanup();
    await files.cleanup();
  });

  /** A world whose org chain holds its setup events plus N test events, all linked. */
  async function chainedWorld(name: string): Promise<World> {
    const { t } = target;
    const w = await makeWorld(t, name);
    await t.app.services.engine.audit.chainer.drain();
    // The engine's store is the adapter under test (startTestApp's memory store otherwise).
    await t.app.services.engine.context.store.appendAuditDrafts(makeDrafts(w.orgId, N));
    await t.app.services.engine.audit.chainer.drain();
    return w;
  }

  async function verifyEndpoint(w: World) {
    const res = await target.t.call('GET', '/v1/audit/verify', { auth: w.enterprise });
    assert.is(res.status, 200, res.text);
    return res.body;
  }

  async function cliOnExport(w: World, format: 'json' | 'csv', label: string) {
    const res = await target.t.call('GET', `/v1/audit/export?format=${format}`, { auth: w.enterprise });
    assert.is(res.status, 200, res.text);
    const file = join(files.dir, `${adapter}-${label}.${format}`);
    await writeFile(file, res.text);
    const jwks = (await target.t.call('GET', '/.well-known/jwks.json')).body;
    return verifyWithCli(file, jwks);
  }

  s('an untouched chain verifies at the endpoint and offline', async () => {
    const w = await chainedWorld('Untouched');
    const r = await verifyEndpoint(w);
    assert.is(r.ok, true, JSON.stringify(r));
    assert.ok(r.checked >= N);
    for (const format of ['json', 'csv'] as const) {
      const cli = await cliOnExport(w, format, 'untouched');
      assert.is(cli.code, 0, cli.stdout + cli.stderr);
      assert.equal([cli.report.checked, cli.report.head_hash], [r.checked, r.head_hash]);
    }
  });

  for (const tampering of TAMPERINGS) {
    s(`${tampering.name} seq ${K} in the backing store: verify names seq ${K}; the CLI agrees`, async () => {
      const w = await chainedWorld(`T ${tampering.name}`);
      assert.ok((await verifyEndpoint(w)).ok);
      await tampering.apply(target.backing, w.orgId);
      const r = await verifyEndpoint(w);
      assert.equal(
        [r.ok, r.first_bad_seq, r.reason, r.head_seq, r.checked],
        [false, K, tampering.reason, K - 1, K - 1],
        JSON.stringify(r),
      );
      for (const format of ['json', 'csv'] as const) {
        const cli = await cliOnExport(w, format, tampering.name);
        assert.is(cli.code, 1, cli.stdout + cli.stderr);
        assert.equal(
          [cli.report.ok, cli.report.first_bad_seq, cli.report.reason, cli.report.head_hash],
          [false, K, tampering.reason, r.head_hash],
          `${format}: ${cli.stdout}`,
        );
      }
    });
  }

  s.run();
}
