import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { gunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { bundleFromFiles, type PolicyBundle } from './bundle.js';
import { BundleRejection } from './bundle-rejection.js';
import { isPolicyError } from './errors.js';
import { ENTRYPOINTS, type LoadedPolicy, loadPolicy } from './runtime.js';
import { verifyBundleSignature } from './signature.js';
import { smokeIntentInputs, smokeSpendInputs } from './smoke-inputs.js';

/** A bundle that passed every check. */
export interface CheckedBundle {
  revision: string;
  sha256: string;
  size_bytes: number;
  entrypoints: string[];
  bundle: PolicyBundle;
  policy: LoadedPolicy;
}

/** Options of {@link checkBundleUpload}. */
export interface BundleCheckOptions {
  /** Largest unpacked size (all entries together). */
  maxUnpackedBytes: number;
  /** SPKI PEM public key that must have signed the bundle (OPA `.signatures.json`), or null. */
  signingKey?: string | null;
}

/** Revisions are URL path segments: letters, digits, `.`, `_`, `-`, at most 128 characters. */
export const REVISION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The parts of the WebAssembly global used here (the project compiles without the DOM library). */
interface WasmMemory {
  buffer: ArrayBuffer;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  Module: { imports(module: object): { module: string; name: string; kind: string }[] };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const sdkRequire = createRequire(import.meta.url);
let jsBuiltins: ReadonlySet<string> | undefined;

/** Builtins the JS runtime implements for a WASM module (those not compiled into the module itself). */
export function runtimeBuiltins(): ReadonlySet<string> {
  if (!jsBuiltins) {
    const entry = sdkRequire.resolve('@open-policy-agent/opa-wasm');
    const impl = sdkRequire(join(dirname(entry), 'builtins', 'index.js')) as Record<string, unknown>;
    jsBuiltins = new Set(Object.keys(impl));
  }
  return jsBuiltins;
}

function gunzipLimited(bytes: Uint8Array, max: number): Promise<Buffer> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    return Promise.reject(new BundleRejection('not_gzip', 'the body is not a gzip stream'));
  }
  return new Promise((resolve, reject) => {
    gunzip(bytes, { maxOutputLength: max }, (err, out) => {
      if (!err) return resolve(out);
      if (err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        return reject(new BundleRejection('too_large', `the bundle unpacks to more than ${max} bytes`));
      }
      reject(new BundleRejection('not_gzip', `gzip: ${err.message}`));
    });
  });
}

/**
 * The bundle path of a tar entry. `opa build` writes names with a leading `/` (the bundle root); one is
 * dropped, as is `./`. `..` segments, backslashes, drive letters, NUL and a `//` start are unsafe.
 */
export function bundlePath(raw: string): string {
  let name = raw;
  if (name.startsWith('./')) name = name.slice(2);
  else if (name.startsWith('/') && !name.startsWith('//')) name = name.slice(1);
  if (
    name.startsWith('/') ||
    name.includes('\\') ||
    name.includes('\u0000') ||
    /^[A-Za-z]:/.test(name) ||
    name.split('/').some((seg) => seg === '..')
  ) {
    throw new BundleRejection('unsafe_path', `unsafe entry name ${JSON.stringify(raw)}`);
  }
  return name.replace(/\/+$/, '');
}

/** The regular files of a tar archive, refusing links, devices and unsafe names. */
function untar(tar: Buffer): Promise<Map<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Uint8Array>();
    const ex = extract();
    let settled = false;
    const fail = (rejection: BundleRejection) => {
      if (settled) return;
      settled = true;
      reject(rejection);
      ex.destroy();
    };
    ex.on('entry', (header, stream, next) => {
      let name: string;
      try {
        name = bundlePath(header.name);
        if (header.type === 'symlink' || header.type === 'link') {
          const kind = header.type === 'link' ? 'hard link' : 'symbolic link';
          throw new BundleRejection('link_entry', `${header.name} is a ${kind}`);
        }
        if (header.type !== 'file' && header.type !== 'contiguous-file' && header.type !== 'directory') {
          throw new BundleRejection('unsafe_path', `${header.name} is a ${header.type ?? 'special'} entry`);
        }
      } catch (err) {
        fail(err as BundleRejection);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type !== 'directory') files.set(name, new Uint8Array(Buffer.concat(chunks)));
        next();
      });
      stream.on('error', (err: Error) => fail(new BundleRejection('not_tar', `tar: ${err.message}`)));
    });
    ex.on('finish', () => {
      if (settled) return;
      settled = true;
      resolve(files);
    });
    ex.on('error', (err: Error) => fail(new BundleRejection('not_tar', `tar: ${err.message}`)));
    ex.end(tar);
  });
}

function describe(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  return String((err as { message?: unknown } | null)?.message ?? err);
}

/**
 * Reads the builtins a WASM module calls in the host and its entry points, by instantiating it with
 * inert imports (nothing is evaluated).
 */
function inspectModule(module: object): { builtins: string[]; entrypoints: string[] } {
  const memory = new wasmApi.Memory({ initial: 5 });
  const env: Record<string, unknown> = {};
  for (const imp of wasmApi.Module.imports(module)) {
    if (imp.module !== 'env') throw new Error(`unexpected import module ${imp.module}`);
    if (imp.kind === 'memory') env[imp.name] = memory;
    else if (imp.kind === 'function') {
      env[imp.name] = () => {
        throw new Error(`${imp.name} called while inspecting the module`);
      };
    } else throw new Error(`unexpected ${imp.kind} import ${imp.name}`);
  }
  const instance = new wasmApi.Instance(module, { env });
  const ex = instance.exports;
  const dumpFn = ex.opa_json_dump;
  const builtinsFn = ex.builtins;
  const entrypointsFn = ex.entrypoints;
  if (typeof dumpFn !== 'function' || typeof builtinsFn !== 'function' || typeof entrypointsFn !== 'function') {
    throw new Error('not an OPA policy module (missing opa_json_dump, builtins or entrypoints export)');
  }
  const mem = (ex.memory as WasmMemory | undefined) ?? memory;
  const read = (addr: number): Record<string, unknown> => {
    const ptr = dumpFn(addr) as number;
    const bytes = new Uint8Array(mem.buffer);
    let end = ptr;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return JSON.parse(new TextDecoder().decode(bytes.subarray(ptr, end))) as Record<string, unknown>;
  };
  return {
    builtins: Object.keys(read(builtinsFn() as number)),
    entrypoints: Object.keys(read(entrypointsFn() as number)),
  };
}

function smoke(policy: LoadedPolicy): void {
  const run = (what: string, fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      const code = isPolicyError(err) ? `${err.code}: ` : '';
      throw new BundleRejection('smoke_failed', `${what}: ${code}${describe(err)}`);
    }
  };
  smokeSpendInputs().forEach((input, i) => {
    run(`spend input ${i + 1}`, () => policy.evaluateSpend(input));
  });
  smokeIntentInputs().forEach((input, i) => {
    run(`intent input ${i + 1}`, () => policy.evaluateIntent(input));
  });
}

/**
 * Every check an uploaded OPA bundle passes before it is stored: gzip'd tar with safe names and no links,
 * within the unpacked size; `.manifest` with a revision; the WASM module valid, with both entry points, and
 * calling no builtin the JS runtime lacks; the data documents; the signature when the org requires one; and
 * a smoke evaluation of a fixed input set whose every result must be a valid decision (a trap fails it).
 * Throws {@link BundleRejection}.
 */
export async function checkBundleUpload(bytes: Uint8Array, options: BundleCheckOptions): Promise<CheckedBundle> {
  const tar = await gunzipLimited(bytes, options.maxUnpackedBytes);
  const files = await untar(tar);
  if (files.size === 0) throw new BundleRejection('not_tar', 'the archive holds no file');

  const rawManifest = files.get('.manifest');
  if (rawManifest === undefined) throw new BundleRejection('missing_manifest', 'the bundle has no .manifest');
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder().decode(rawManifest));
  } catch {
    throw new BundleRejection('missing_manifest', '.manifest is not valid JSON');
  }
  const revision = (manifest as { revision?: unknown } | null)?.revision;
  if (typeof revision !== 'string' || revision === '') {
    throw new BundleRejection('missing_revision', '.manifest has no revision (opa build --revision)');
  }
  if (!REVISION_PATTERN.test(revision)) {
    throw new BundleRejection(
      'missing_revision',
      `revision ${JSON.stringify(revision)} must match ${REVISION_PATTERN}`,
    );
  }
  if (options.signingKey) {
    await verifyBundleSignature(files, options.signingKey);
  }

  let bundle: PolicyBundle;
  try {
    bundle = bundleFromFiles(files);
  } catch (err) {
    const message = describe(err);
    if (/WASM module|not a WASM/.test(message)) throw new BundleRejection('missing_wasm', message);
    throw new BundleRejection('data_invalid', message);
  }
  let module: object;
  try {
    module = await wasmApi.compile(bundle.wasm);
  } catch (err) {
    throw new BundleRejection('wasm_invalid', `the WASM module does not compile: ${describe(err)}`);
  }
  let inspected: { builtins: string[]; entrypoints: string[] };
  try {
    inspected = inspectModule(module);
  } catch (err) {
    throw new BundleRejection('wasm_invalid', describe(err));
  }
  const missing = ENTRYPOINTS.filter((e) => !inspected.entrypoints.includes(e));
  if (missing.length > 0) {
    throw new BundleRejection('missing_entrypoint', `the module lacks the entry point(s) ${missing.join(', ')}`);
  }
  const available = runtimeBuiltins();
  const unsupported = inspected.builtins.filter((b) => !available.has(b)).sort();
  if (unsupported.length > 0) {
    throw new BundleRejection(
      'unsupported_builtin',
      `the runtime does not implement ${unsupported.join(', ')}; build with the capabilities the runtime implements`,
    );
  }
  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(bundle);
  } catch (err) {
    throw new BundleRejection('wasm_invalid', describe(err));
  }
  smoke(policy);
  return {
    revision,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size_bytes: bytes.length,
    entrypoints: [...ENTRYPOINTS],
    bundle,
    policy,
  };
}

/** What {@link checkBundleIsolated} reports for a bundle that passed. */
export type IsolatedCheck = Pick<CheckedBundle, 'revision' | 'sha256' | 'size_bytes' | 'entrypoints'>;

/**
 * {@link checkBundleUpload} in a worker thread, stopped after `timeoutMs` (then `smoke_failed`): the
 * module of an uploaded bundle is untrusted code, and one that never returns must not hold the server's
 * event loop. Throws {@link BundleRejection}.
 */
export function checkBundleIsolated(
  bytes: Uint8Array,
  options: BundleCheckOptions,
  timeoutMs = 10_000,
): Promise<IsolatedCheck> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./upload-worker.js', import.meta.url), {
      workerData: { bytes, options },
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() => reject(new BundleRejection('smoke_failed', `the checks did not finish within ${timeoutMs} ms`))),
      timeoutMs,
    );
    worker.on(
      'message',
      (m: ({ ok: true } & IsolatedCheck) | { ok: false; problem: BundleRejection['problem']; detail: string }) => {
        finish(() => (m.ok ? resolve(m) : reject(new BundleRejection(m.problem, m.detail))));
      },
    );
    worker.on('error', (err) =>
      finish(() => reject(new BundleRejection('wasm_invalid', `the checks failed: ${err.message}`))),
    );
    worker.on('exit', (code) =>
      finish(() => reject(new BundleRejection('wasm_invalid', `the checks stopped (exit ${code})`))),
    );
  });
}
