// The API explorer in a real headless Chromium (`npm run test:browser`; not part of `npm test`, see README).
// The browser is Debian's `chromium` (CHROMIUM_PATH overrides /usr/bin/chromium); the screenshot goes to
// artifacts/api-explorer.png (git-ignored).
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clientToken, makeWorld, startTestApp, type TestApp, type World } from '../support/http-app.js';

const ARTIFACTS = join(process.cwd(), 'artifacts');
let t: TestApp;
let w: World;
let browser: Browser;
let profile: string;

const explorer = suite('API explorer in headless Chromium');
explorer.before(async () => {
  t = await startTestApp();
  w = await makeWorld(t);
  profile = await mkdtemp(join(tmpdir(), 'allowance-chromium-'));
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
});
explorer.after(async () => {
  await browser?.close();
  await rm(profile, { recursive: true, force: true });
  await t.close();
});

async function open(): Promise<{ page: Page; problems: string[]; foreign: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems: string[] = [];
  const foreign: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  page.on('request', (req) => {
    if (!req.url().startsWith(t.url) && !req.url().startsWith('data:')) foreign.push(req.url());
  });
  await page.goto(`${t.url}/docs`, { waitUntil: 'networkidle0' });
  return { page, problems, foreign };
}

explorer('the page loads from this server alone and lists POST /v1/authorize', async () => {
  const { page, problems, foreign } = await open();
  await page.waitForSelector('#operations-authorizations-authorize', { timeout: 30_000 });
  const summary = await page.$eval('#operations-authorizations-authorize .opblock-summary', (el) => el.textContent);
  assert.match(summary ?? '', /POST\s*\/v1\/authorize/);
  assert.equal(foreign, []);
  assert.equal(problems, []);
  await page.close();
});

explorer('"Try it out" with a bearer token calls this server; a screenshot is written', async () => {
  const created = await t.call('POST', '/v1/agents', { auth: w.enterprise, body: { name: 'explorer-bot' } });
  assert.is(created.status, 201);
  const { page, problems } = await open();
  await page.waitForSelector('.auth-wrapper .authorize');
  await page.click('.auth-wrapper .authorize');
  // The first scheme of the dialog is bearerAuth (then basicAuth).
  const bearer = await page.waitForSelector('.modal-ux .auth-container input');
  assert.ok(bearer);
  await bearer.type(clientToken(w.enterprise));
  await page.click('.modal-ux .auth-container .auth-btn-wrapper .authorize');
  await page.click('.modal-ux .btn-done');

  await page.click('#operations-agents-listAgents .opblock-summary');
  await page.waitForSelector('#operations-agents-listAgents .try-out__btn');
  await page.click('#operations-agents-listAgents .try-out__btn');
  await page.click('#operations-agents-listAgents .execute');
  const status = await page.waitForSelector(
    '#operations-agents-listAgents .live-responses-table tr.response .response-col_status',
    {
      timeout: 30_000,
    },
  );
  assert.is((await status?.evaluate((el) => el.textContent))?.trim(), '200');
  const body = await page.$eval(
    '#operations-agents-listAgents .live-responses-table .microlight',
    (el) => el.textContent,
  );
  assert.ok(body?.includes(created.body.id), body ?? '');
  assert.equal(problems, []);

  await mkdir(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, 'api-explorer.png');
  await page.screenshot({ path: file, fullPage: false });
  assert.ok((await stat(file)).size > 10_000);
  await page.close();
});

explorer.run();
