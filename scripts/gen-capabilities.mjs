#!/usr/bin/env node
// Writes policies/capabilities.json: the builtins of the pinned opa release that a
// policy compiled with `opa build -t wasm` can call when run by the JS SDK.
// Anything else (time.now_ns, crypto.*, http.send, ...) then fails the build.
// Usage: node scripts/gen-capabilities.mjs [--check]
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'policies', 'capabilities.json');

// Operators the planner lowers itself, without a builtin call.
const planner = ['eq', 'assign'];

// Builtins the WASM compiler implements inside the module (its builtin-to-function
// table in internal/compiler/wasm).
const wasmNative = [
  'plus',
  'minus',
  'mul',
  'div',
  'abs',
  'round',
  'ceil',
  'floor',
  'rem',
  'array.concat',
  'array.reverse',
  'array.slice',
  'set_diff',
  'and',
  'or',
  'intersection',
  'union',
  'is_number',
  'is_string',
  'is_boolean',
  'is_array',
  'is_set',
  'is_object',
  'is_null',
  'type_name',
  'bits.or',
  'bits.and',
  'bits.negate',
  'bits.xor',
  'bits.lsh',
  'bits.rsh',
  'count',
  'sum',
  'product',
  'max',
  'min',
  'sort',
  'all',
  'any',
  'base64.is_valid',
  'base64.decode',
  'base64.encode',
  'base64url.encode',
  'base64url.decode',
  'net.cidr_contains',
  'net.cidr_overlap',
  'net.cidr_intersects',
  'equal',
  'gt',
  'gte',
  'lt',
  'lte',
  'neq',
  'glob.match',
  'json.marshal',
  'json.unmarshal',
  'json.is_valid',
  'object.filter',
  'object.get',
  'object.keys',
  'object.remove',
  'object.union',
  'object.union_n',
  'concat',
  'format_int',
  'indexof',
  'substring',
  'lower',
  'upper',
  'contains',
  'startswith',
  'endswith',
  'strings.reverse',
  'split',
  'replace',
  'strings.replace_n',
  'trim',
  'trim_left',
  'trim_prefix',
  'trim_right',
  'trim_suffix',
  'trim_space',
  'numbers.range',
  'to_number',
  'walk',
  'graph.reachable',
  'regex.is_valid',
  'regex.match',
  're_match',
  'regex.find_all_string_submatch_n',
  'json.remove',
  'json.filter',
  'internal.member_2',
  'internal.member_3',
];

// Builtins @open-policy-agent/opa-wasm 1.10.0 supplies from JavaScript (src/builtins/).
const jsSdk = ['json.is_valid', 'sprintf', 'regex.split', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal'];

function opaBinary() {
  const local = join(root, '.tools', 'opa');
  return existsSync(local) ? local : 'opa';
}

const current = JSON.parse(execFileSync(opaBinary(), ['capabilities', '--current'], { encoding: 'utf8' }));
const allowed = new Set([...planner, ...wasmNative, ...jsSdk]);
const builtins = current.builtins.filter((b) => allowed.has(b.name));
const missing = [...allowed].filter((name) => !builtins.some((b) => b.name === name));
if (missing.length > 0) {
  console.error(`gen-capabilities: not offered by this opa release: ${missing.join(', ')}`);
  process.exit(1);
}
const out = `${JSON.stringify({ ...current, builtins }, null, 2)}\n`;

if (process.argv.includes('--check')) {
  const existing = existsSync(target) ? readFileSync(target, 'utf8') : '';
  if (existing !== out) {
    console.error('gen-capabilities: policies/capabilities.json is out of date; run node scripts/gen-capabilities.mjs');
    process.exit(1);
  }
  console.log('gen-capabilities: up to date');
} else {
  writeFileSync(target, out);
  console.log(`gen-capabilities: wrote ${builtins.length} of ${current.builtins.length} builtins`);
}
