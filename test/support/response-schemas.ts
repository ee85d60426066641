import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import * as assert from 'uvu/assert';
import * as schemas from '../../src/schemas/index.js';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

// A separate instance: the product's ajv already holds some of these $ids.
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
for (const value of Object.values(schemas)) {
  if (value && typeof value === 'object' && typeof (value as { $id?: unknown }).$id === 'string') ajv.addSchema(value);
}

/** Asserts `body` matches the response schema with `$id` (a page: `XPage`). */
export function assertMatches(id: string, body: unknown): void {
  let validate = ajv.getSchema(id);
  if (!validate && id.endsWith('Page')) {
    ajv.addSchema(schemas.pageSchema(id.slice(0, -4)));
    validate = ajv.getSchema(id);
  }
  if (!validate) throw new Error(`no schema ${id}`);
  assert.ok(validate(body), `${id}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(body).slice(0, 500)}`);
}
