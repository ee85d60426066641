import { shortText } from './common.js';

/** Body of creating an org or a processor. */
export const createNamedSchema = {
  $id: 'CreateNamed',
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: shortText },
} as const;
