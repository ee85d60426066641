import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { newRequestId } from '../../src/util/ids.js';

const s = suite('request ids');

s('a process prefix and a counter, req_ and 24 hex digits', () => {
  const ids = Array.from({ length: 1000 }, () => newRequestId());
  for (const id of ids) assert.match(id, /^req_[0-9a-f]{24}$/);
  assert.is(new Set(ids).size, ids.length);
  const prefix = (ids[0] as string).slice(0, 16);
  assert.ok(ids.every((id) => id.startsWith(prefix)));
  const counter = (id: string) => Number.parseInt(id.slice(16), 16);
  for (let i = 1; i < ids.length; i++) assert.is(counter(ids[i] as string), counter(ids[i - 1] as string) + 1);
});

s.run();
