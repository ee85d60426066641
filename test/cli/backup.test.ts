import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeAgent, makeOrg } from '../../adapters/conformance/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { runBackupCommand } from '../../src/cli/backup-command.js';

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env } };
}

const backup = suite('allowance backup');

backup('copies a live database into a file that opens as the same store; never overwrites', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-backup-'));
  try {
    const dataDir = join(dir, 'data');
    const live = new SqliteAdapter({ path: join(dataDir, 'allowance.db') });
    const org = makeOrg();
    await live.insertOrg(org);
    const agents = Array.from({ length: 200 }, () => makeAgent(org.id));
    for (const a of agents) await live.insertAgent(a);
    // The server keeps its connection open (and its WAL unmerged) while the copy is taken.
    const target = join(dir, 'copy.db');
    const run = io({ ALLOWANCE_DATA_DIR: dataDir });
    assert.is(await runBackupCommand(['--out', target], run.io), 0, run.err.join(''));
    const later = makeAgent(org.id);
    await live.insertAgent(later);

    const restored = new SqliteAdapter({ path: target });
    assert.equal(await restored.getOrg(org.id), org);
    const page = await restored.listAgents(org.id, { limit: 100 });
    assert.is(page.items.length, 100);
    assert.equal(await restored.getAgent(org.id, (agents[0] as { id: string }).id), agents[0]);
    assert.is(await restored.getAgent(org.id, later.id), null, 'a snapshot of the moment of the backup');
    await restored.close();

    const again = io({ ALLOWANCE_DATA_DIR: dataDir });
    assert.is(await runBackupCommand(['--out', target], again.io), 1);
    assert.match(again.err.join(''), /never overwritten/);
    await live.close();
    assert.equal(
      (await readdir(dir)).filter((f) => f.includes('partial')),
      [],
      'no partial file left',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

backup('usage errors exit 2; a missing database exits 1 and writes nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'allowance-backup-'));
  try {
    assert.is(await runBackupCommand([], io().io), 2);
    assert.is(await runBackupCommand(['--nope'], io().io), 2);
    assert.is(await runBackupCommand(['--help'], io().io), 0);
    const target = join(dir, 'copy.db');
    assert.is(await runBackupCommand(['--out', target, '--db', join(dir, 'none.db')], io().io), 1);
    assert.not.ok(existsSync(target));
    await writeFile(join(dir, 'not-a-db'), 'hello');
    assert.is(await runBackupCommand(['--out', target, '--db', join(dir, 'not-a-db')], io().io), 1);
    assert.not.ok(existsSync(target));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

backup.run();
