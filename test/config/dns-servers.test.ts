import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createTxtResolver } from '../../src/domains/index.js';
import { startDnsServer } from '../support/dns-server.js';

const s = suite('ALLOWANCE_DNS_SERVERS');

s('unset: the system resolvers; addresses with and without ports are read', () => {
  assert.equal(loadConfig({}).dnsServers, []);
  assert.equal(
    loadConfig({ ALLOWANCE_DNS_SERVERS: ' 10.0.0.2, 10.0.0.3:5353,[2001:db8::1]:53,2001:db8::2 ' }).dnsServers,
    ['10.0.0.2', '10.0.0.3:5353', '[2001:db8::1]:53', '2001:db8::2'],
  );
});

s('a name, a bad port or a bracketed IPv4 address stops the start', () => {
  for (const value of ['dns.example', '10.0.0.2:0', '10.0.0.2:70000', '[10.0.0.2]:53', '10.0.0.256', '[::1']) {
    assert.throws(
      () => loadConfig({ ALLOWANCE_DNS_SERVERS: value }),
      (err: unknown) => err instanceof ConfigError && /ALLOWANCE_DNS_SERVERS/.test((err as Error).message),
      value,
    );
  }
});

s('the resolver asks the configured server (a real one on loopback) and tells its answers apart', async () => {
  const dns = await startDnsServer();
  try {
    dns.txt.set('acme.example', [['a'], ['b', 'c']]);
    dns.txt.set('empty.example', []);
    const resolve = createTxtResolver({ servers: loadConfig({ ALLOWANCE_DNS_SERVERS: dns.address }).dnsServers });
    assert.equal(await resolve('acme.example'), { status: 'found', records: ['a', 'bc'] });
    assert.equal(await resolve('missing.example'), { status: 'domain_not_found' });
    assert.equal(await resolve('empty.example'), { status: 'no_records' });
    dns.failing = true;
    assert.is((await resolve('acme.example')).status, 'unavailable');
    assert.ok(dns.queries.includes('missing.example'));
  } finally {
    await dns.close();
  }
});

s.run();
