import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { AppError } from '../errors/index.js';

// ajv-formats ships CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

/** The ajv instance every request schema is compiled with: draft 2020-12, defaults applied, all errors. */
export const ajv = new Ajv2020({
  allErrors: true,
  useDefaults: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
  // OpenAPI's discriminator: a oneOf picked by a tag property reports the errors of the picked branch only.
  discriminator: true,
});
addFormats(ajv);

/** One validation problem, as reported in `error.details`. */
export interface ValidationIssue {
  path: string;
  message: string;
  keyword: string;
}

function toIssues(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => ({
    path: e.instancePath || '/',
    message: e.message ?? 'is invalid',
    keyword: e.keyword,
  }));
}

/**
 * Compiles `schema` once (once per `$id`) and returns a function that validates a value (in place: defaults are filled in)
 * and returns it typed, or throws `validation_failed` with every problem in `details`.
 */
export function compileValidator<T>(schema: object): (value: unknown) => T {
  // The same schema object is compiled once, whoever asks for it first; another schema under a taken `$id`
  // still fails to compile.
  const id = (schema as { $id?: unknown }).$id;
  const known = typeof id === 'string' ? ajv.getSchema(id) : undefined;
  const validate: ValidateFunction = known && known.schema === schema ? known : ajv.compile(schema);
  return (value) => {
    if (!validate(value)) {
      const issues = toIssues(validate.errors);
      const first = issues[0];
      throw new AppError('validation_failed', first ? `${first.path} ${first.message}` : 'invalid input', {
        details: issues,
      });
    }
    return value as T;
  };
}
