import { suite } from 'uvu';
import { startTestApp, type TestApp } from '../support/http-app.js';
import { runTestModeScenario } from '../support/test-mode-cases.js';

const s = suite('live and test mode (memory)');
let t: TestApp;

s.before(async () => {
  t = await startTestApp();
});
s.after(() => t.close());

s('test data is a world of its own: reads, spend, decisions, credentials and audit chains', async () => {
  await runTestModeScenario(t, () => t.app.services.engine.audit.chainer.drain());
});

s.run();
