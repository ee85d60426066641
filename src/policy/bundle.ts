import { gunzipSync } from 'node:zlib';
import { PolicyError } from './errors.js';
import { readTar } from './tar.js';

/** The `.manifest` of an OPA bundle (fields this project relies on; others are kept). */
export interface BundleManifest {
  revision: string;
  roots?: string[];
  wasm?: { entrypoint: string; module: string }[];
  rego_version?: number;
  [key: string]: unknown;
}

/** The parts of an OPA WASM bundle needed to evaluate it. */
export interface PolicyBundle {
  wasm: Uint8Array;
  data: Record<string, unknown>;
  manifest: BundleManifest;
}

const decoder = new TextDecoder();

function invalid(message: string, cause?: unknown): PolicyError {
  return new PolicyError('bundle_invalid', `bundle: ${message}`, { cause });
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw invalid(`${what} is not valid JSON`, err);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets an own property, even one named `__proto__` (never the prototype). */
function define(node: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
}

function placeData(root: Record<string, unknown>, dir: string, value: unknown, file: string): void {
  if (!isObject(value)) throw invalid(`${file} must hold a JSON object`);
  let node = root;
  for (const key of dir.split('/').filter((k) => k !== '')) {
    const child = Object.hasOwn(node, key) ? node[key] : undefined;
    if (child === undefined) define(node, key, {});
    else if (!isObject(child)) throw invalid(`${file} conflicts with other data`);
    node = node[key] as Record<string, unknown>;
  }
  for (const key of Object.keys(value)) define(node, key, value[key]);
}

/**
 * Reads an OPA bundle (`.tar.gz` as written by `opa build -t wasm`) into its WASM
 * module, merged data document and manifest. Throws `bundle_invalid` when the archive
 * is not gzip'd tar, the manifest is missing or malformed, or no WASM module is present.
 */
export function readPolicyBundle(bytes: Uint8Array): PolicyBundle {
  let tar: Uint8Array;
  try {
    tar = gunzipSync(bytes);
  } catch (err) {
    throw invalid('not a gzip archive', err);
  }
  return bundleFromFiles(new Map(readTar(tar).map((entry) => [entry.name, entry.data])));
}

/**
 * The bundle made of already extracted files (path without a leading `/` → content): manifest, WASM module
 * and the data documents merged by folder. Throws `bundle_invalid` like {@link readPolicyBundle}.
 */
export function bundleFromFiles(files: ReadonlyMap<string, Uint8Array>): PolicyBundle {
  const rawManifest = files.get('.manifest');
  if (rawManifest === undefined) throw invalid('missing .manifest');
  const manifest = parseJson(rawManifest, '.manifest');
  if (!isObject(manifest) || typeof manifest.revision !== 'string') {
    throw invalid('.manifest must be an object with a string revision');
  }

  const wasmList = Array.isArray(manifest.wasm) ? manifest.wasm : [];
  const first: unknown = wasmList[0];
  const modulePath = isObject(first) && typeof first.module === 'string' ? first.module : '/policy.wasm';
  const wasm = files.get(modulePath.replace(/^\/+/, ''));
  if (wasm === undefined || wasm.length < 8) throw invalid(`missing WASM module ${modulePath}`);
  // "\0asm" magic number and binary format version 1.
  if (wasm[0] !== 0x00 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw invalid(`${modulePath} is not a WASM module`);
  }

  const data: Record<string, unknown> = {};
  for (const [name, content] of files) {
    if (name === 'data.json' || name.endsWith('/data.json')) {
      placeData(data, name.slice(0, -'data.json'.length), parseJson(content, name), name);
    }
  }

  return { wasm: new Uint8Array(wasm), data, manifest: manifest as BundleManifest };
}
