import { AppError } from '../errors/index.js';
import { MAX_JSON_DEPTH, valueTooDeep } from '../util/json-depth.js';

/**
 * A private copy of a caller's input, taken before validation (ajv may fill defaults in place). An input
 * nested deeper than MAX_JSON_DEPTH is refused first with `nesting_too_deep`: cloning and validation
 * recurse, and a deep enough value would overflow the stack.
 */
export function cloneInput<T>(value: T): T {
  if (valueTooDeep(value)) {
    throw new AppError('nesting_too_deep', `the input nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`, {
      details: { max_depth: MAX_JSON_DEPTH },
    });
  }
  return structuredClone(value);
}
