import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isAppError } from '../../src/errors/index.js';
import {
  checkWebhookTarget,
  classifyAddress,
  createWebhookSender,
  type HostResolver,
  parseWebhookUrl,
  type TargetPolicy,
} from '../../src/webhooks/index.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const strict: TargetPolicy = { allowPrivate: false, allowHttp: false };
const open: TargetPolicy = { allowPrivate: true, allowHttp: true };

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (isAppError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

function fakeResolver(table: Record<string, string[]>): HostResolver {
  return async (host) => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

const guard = suite('webhook target guard');

guard('address classes: only public unicast passes', () => {
  const cases: [string, string][] = [
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['100.128.0.1', 'public'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::a9fe:a9fe', 'link_local'],
    ['64:ff9b::808:808', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['2002:7f00:1::1', 'reserved'],
    ['2001:4860:4860::8888', 'public'],
    ['2606:4700::1111', 'public'],
    ['not-an-ip', 'invalid'],
  ];
  for (const [address, kind] of cases) assert.is(classifyAddress(address), kind, address);
});

guard('every special-purpose range is refused by its ipaddr.js class, IPv4, IPv6, mapped and NAT64', () => {
  const cases: [string, string][] = [
    // IPv4
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['239.255.255.250', 'multicast'],
    ['169.254.0.1', 'link_local'],
    ['127.0.0.53', 'loopback'],
    ['100.100.100.200', 'shared'],
    ['10.255.255.255', 'private'],
    ['172.20.1.1', 'private'],
    ['192.168.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['192.175.48.1', 'reserved'],
    ['192.52.193.1', 'reserved'],
    ['1.1.1.1', 'public'],
    ['192.0.3.1', 'public'],
    ['198.20.0.1', 'public'],
    // IPv6
    ['::', 'unspecified'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::abcd%2', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['fdff:ffff::1', 'unique_local'],
    ['ff05::2', 'multicast'],
    ['2001:db8:1::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'reserved'],
    ['2001:2::1', 'reserved'],
    ['2001:10::1', 'reserved'],
    ['2002:c000:201::1', 'reserved'],
    ['100::1', 'reserved'],
    ['5f00::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['::ffff:0:a00:1', 'reserved'],
    ['::8.8.8.8', 'reserved'],
    ['::0.0.0.1', 'loopback'],
    ['64:ff9b:1::a00:1', 'reserved'],
    ['2a00:1450:4001::200e', 'public'],
    // IPv4-mapped IPv6 and NAT64 carry the IPv4 address's class
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:100.64.0.1', 'shared'],
    ['::ffff:224.0.0.1', 'multicast'],
    ['::ffff:192.0.2.1', 'documentation'],
    ['::ffff:1.1.1.1', 'public'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::c0a8:101', 'private'],
    ['64:ff9b::6440:1', 'shared'],
    ['64:ff9b::1.1.1.1', 'public'],
    // not addresses in their strict textual form
    ['127.1', 'invalid'],
    ['0x7f.0.0.1', 'invalid'],
    ['2130706433', 'invalid'],
    ['1::2::3', 'invalid'],
    ['', 'invalid'],
  ];
  for (const [address, kind] of cases) assert.is(classifyAddress(address), kind, address);
});

guard('a name resolving to a mapped or NAT64 form of an internal address is refused', async () => {
  const resolve = fakeResolver({
    'mapped.test': ['::ffff:169.254.169.254'],
    'nat64.test': ['64:ff9b::a9fe:a9fe'],
    'nat64-public.test': ['64:ff9b::808:808'],
    'doc.test': ['203.0.113.5'],
  });
  for (const host of ['mapped.test', 'nat64.test', 'doc.test']) {
    const r = await refusal(checkWebhookTarget(new URL(`https://${host}/`), { ...strict, resolve }));
    assert.is(r.code, 'webhook_target_forbidden', host);
  }
  const ok = await checkWebhookTarget(new URL('https://nat64-public.test/'), { ...strict, resolve });
  assert.equal([ok.address, ok.family], ['64:ff9b::808:808', 6]);
});

guard('URL syntax: https only unless http is allowed; no user info, no fragment, absolute', () => {
  assert.is(parseWebhookUrl('https://hooks.example.com/a?b=1', strict).hostname, 'hooks.example.com');
  const bad = [
    'http://hooks.example.com/',
    'ftp://hooks.example.com/',
    'https://user:pw@hooks.example.com/',
    'https://hooks.example.com/#frag',
    '/relative',
    'not a url',
    'javascript:alert(1)',
  ];
  for (const url of bad) {
    try {
      parseWebhookUrl(url, strict);
      assert.unreachable(url);
    } catch (err) {
      assert.ok(isAppError(err, 'validation_failed'), url);
      assert.equal((err as { details: { path: string }[] }).details[0]?.path, '/url');
    }
  }
  assert.is(parseWebhookUrl('http://hooks.example.com/', { allowHttp: true }).protocol, 'http:');
});

guard('loopback, private, link-local, IPv6 and mapped literals are refused', async () => {
  const urls = [
    'https://127.0.0.1/',
    'https://127.1/',
    'https://0x7f.0.0.1/',
    'https://2130706433/',
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/',
    'https://10.0.0.8/',
    'https://192.168.0.10:8443/x',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.3.4/',
    'https://[fd00::1]/',
    'https://[fe80::1]/',
    'https://0.0.0.0/',
  ];
  for (const raw of urls) {
    const r = await refusal(checkWebhookTarget(parseWebhookUrl(raw, strict), strict));
    assert.is(r.code, 'webhook_target_forbidden', raw);
  }
  const ok = await checkWebhookTarget(parseWebhookUrl('https://8.8.8.8/hook', strict), strict);
  assert.is(ok.address, '8.8.8.8');
});

guard('a host name is judged by every address it resolves to', async () => {
  // The system resolver: localhost is loopback.
  const local = await refusal(checkWebhookTarget(new URL('https://localhost/'), strict));
  assert.is(local.code, 'webhook_target_forbidden');
  const resolve = fakeResolver({
    'public.test': ['8.8.4.4', '2001:4860:4860::8844'],
    'mixed.test': ['8.8.4.4', '10.0.0.7'],
    'inside.test': ['::ffff:192.168.0.1'],
  });
  const good = await checkWebhookTarget(new URL('https://public.test/'), { ...strict, resolve });
  assert.equal([good.host, good.address, good.family], ['public.test', '8.8.4.4', 4]);
  const mixed = await refusal(checkWebhookTarget(new URL('https://mixed.test/'), { ...strict, resolve }));
  assert.is(mixed.code, 'webhook_target_forbidden');
  assert.match(mixed.message, /10\.0\.0\.7/);
  assert.is(
    (await refusal(checkWebhookTarget(new URL('https://inside.test/'), { ...strict, resolve }))).code,
    'webhook_target_forbidden',
  );
  assert.is(
    (await refusal(checkWebhookTarget(new URL('https://nowhere.test/'), { ...strict, resolve }))).code,
    'webhook_target_unresolvable',
  );
});

guard('allowed when the configuration allows private targets', async () => {
  for (const raw of ['http://127.0.0.1:9/', 'http://[::1]:9/', 'https://10.0.0.8/', 'http://localhost:9/']) {
    const t = await checkWebhookTarget(parseWebhookUrl(raw, open), open);
    assert.ok(t.address, raw);
  }
});

// ---

const sender = suite('webhook sender');

sender('connects to the address it checked, keeping the host name (no second DNS answer)', async () => {
  const receiver = await startWebhookReceiver();
  try {
    const resolve = fakeResolver({ 'receiver.test': ['127.0.0.1'] });
    const send = createWebhookSender({ ...open, resolve });
    const url = new URL(`http://receiver.test:${receiver.port}/hooks?x=1`);
    const result = await send({
      url,
      body: '{"a":1}',
      headers: { 'Content-Type': 'application/json' },
      timeoutMs: 5000,
    });
    assert.equal([result.ok, result.statusCode, result.error], [true, 200, null]);
    assert.is(receiver.received.length, 1);
    assert.is(receiver.received[0]?.headers.host, `receiver.test:${receiver.port}`);
    assert.is(receiver.received[0]?.body, '{"a":1}');
  } finally {
    await receiver.close();
  }
});

sender('checks again at delivery: a name that now resolves to loopback is refused, nothing is sent', async () => {
  const receiver = await startWebhookReceiver();
  try {
    const table: Record<string, string[]> = { 'rebind.test': ['8.8.8.8'] };
    const resolve = fakeResolver(table);
    const policy: TargetPolicy = { allowPrivate: false, allowHttp: true, resolve };
    const url = new URL(`http://rebind.test:${receiver.port}/hooks`);
    await checkWebhookTarget(url, policy); // accepted at registration
    table['rebind.test'] = ['127.0.0.1'];
    const result = await createWebhookSender(policy)({ url, body: '{}', headers: {}, timeoutMs: 2000 });
    assert.is(result.ok, false);
    assert.is(result.statusCode, null);
    assert.match(result.error ?? '', /webhook_target_forbidden/);
    assert.is(receiver.received.length, 0);
  } finally {
    await receiver.close();
  }
});

sender('a redirect is a failure and is not followed; a slow receiver times out', async () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url === '/slow') return; // never answers
    res.writeHead(302, { location: '/elsewhere' });
    res.end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as AddressInfo).port;
  try {
    const send = createWebhookSender(open);
    const redirect = await send({
      url: new URL(`http://127.0.0.1:${port}/r`),
      body: '{}',
      headers: {},
      timeoutMs: 2000,
    });
    assert.equal([redirect.ok, redirect.statusCode], [false, 302]);
    assert.is(hits, 1);
    const started = Date.now();
    const slow = await send({ url: new URL(`http://127.0.0.1:${port}/slow`), body: '{}', headers: {}, timeoutMs: 200 });
    assert.equal([slow.ok, slow.statusCode], [false, null]);
    assert.match(slow.error ?? '', /timed out/);
    assert.ok(Date.now() - started < 2000);
    const refused = await send({ url: new URL('http://127.0.0.1:9/'), body: '{}', headers: {}, timeoutMs: 2000 });
    assert.is(refused.ok, false);
    assert.match(refused.error ?? '', /ECONNREFUSED/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
});

guard.run();
sender.run();
