/** JSON Schema fragments shared by request schemas. */
export const currency = { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, upper case.' } as const;
export const minorAmount = {
  type: 'integer',
  minimum: 1,
  maximum: 1_000_000_000_000_000,
  description: 'Integer amount in minor units.',
} as const;
export const nullableLimit = { anyOf: [minorAmount, { type: 'null' }] } as const;
export const nullableCount = {
  anyOf: [{ type: 'integer', minimum: 1, maximum: 1_000_000_000 }, { type: 'null' }],
} as const;
export const time = {
  type: 'string',
  format: 'date-time',
  description:
    'RFC 3339 date-time; stored as UTC with millisecond precision. In requests, a time outside the years 0000 to 9999 once in UTC is refused (422); a leap second is read as the next minute.',
} as const;
export const shortText = { type: 'string', minLength: 1, maxLength: 200 } as const;
export const nullableText = { anyOf: [{ type: 'string', maxLength: 2000 }, { type: 'null' }] } as const;
export const resourceId = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z]+_[0-9a-z]+$' } as const;
export const mcc = { type: 'string', pattern: '^[0-9]{4}$' } as const;
export const country = { type: 'string', pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2.' } as const;
export const metadata = {
  type: 'object',
  maxProperties: 50,
  propertyNames: { maxLength: 40 },
  additionalProperties: { type: 'string', maxLength: 500 },
} as const;
export const merchant = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128 },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    mcc,
    country,
  },
} as const;
export const stringList = (item: object) =>
  ({ type: 'array', maxItems: 1000, uniqueItems: true, items: item }) as const;

/** Fragments of response schemas (what the server writes, so no request limits). */
export const responseTypes = {
  str: { type: 'string' },
  nullableStr: { type: ['string', 'null'] },
  int: { type: 'integer' },
  nullableInt: { type: ['integer', 'null'] },
  time: { type: 'string', format: 'date-time' },
  nullableTime: { type: ['string', 'null'], format: 'date-time' },
} as const;

/** `livemode` of every object of an org: false for test-mode data (the org's test twin, `orgtest_…`). */
export const livemodeField = {
  type: 'boolean',
  description: "False for test-mode data: it belongs to the org's (or processor's) test twin, orgtest_… / prctest_….",
} as const;
