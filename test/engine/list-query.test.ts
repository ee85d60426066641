import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseListQuery } from '../../src/engine/list-query.js';
import { AppError } from '../../src/errors/index.js';
import { parseQuery } from '../../src/http/route.js';
import { compileValidator, listQuerySchema } from '../../src/schemas/index.js';

const test = suite('list query: one schema for the engine and the HTTP lists');

const viaHttp = compileValidator(listQuerySchema);

function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof AppError ? err.code : 'thrown';
  }
}

const CASES: Record<string, unknown>[] = [
  {},
  { limit: 1 },
  { limit: 100 },
  { limit: 0 },
  { limit: 101 },
  { cursor: '' },
  { status: 'active' },
  { agent_id: 'agt_01abc' },
  { agent_id: 'not an id' },
  { agent_id: 'AGT_01' },
  { extra: 1 },
];

test('the engine accepts and refuses exactly what the HTTP list endpoints do', () => {
  for (const c of CASES) {
    assert.is(
      outcome(() => parseListQuery({ ...c })),
      outcome(() => viaHttp({ ...c })),
      JSON.stringify(c),
    );
  }
});

test('an agent_id that is no resource id is validation_failed in the engine too', () => {
  assert.is(
    outcome(() => parseListQuery({ agent_id: 'not an id' })),
    'validation_failed',
  );
});

test('the default limit is filled in the same way', () => {
  assert.is(parseListQuery({}).limit, (viaHttp({}) as { limit: number }).limit);
  assert.is(parseListQuery({}).limit, 20);
});

test('a query string through the HTTP parser validates with the same rules', () => {
  const q = parseQuery({ limit: '5' }, listQuerySchema) as Record<string, unknown>;
  assert.is(
    outcome(() => parseListQuery(q)),
    'ok',
  );
});

test.run();
