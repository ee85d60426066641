import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { canonicalJson } from '../util/canonical-json.js';
import type { BundleManifest, PolicyBundle } from './bundle.js';
import { type LoadedPolicy, loadPolicy } from './runtime.js';
import { smokeSpendInputs } from './smoke-inputs.js';

/** Where a rules revision keeps its rules in the data document (`data.allowance_rules`). */
export const RULES_DATA_KEY = 'allowance_rules';
/** Revisions built from rules are named `rules-` and 16 hex digits of their content's SHA-256. */
export const RULES_REVISION_PATTERN = /^rules-[0-9a-f]{16}$/;

/** The data document of a rules revision. */
export interface RulesDocument {
  /** The base revision whose module the revision carries. */
  base_revision: string;
  /** The rules as validated (defaults filled in), in the order given. */
  rules: unknown[];
}

/** A built rules revision: its name and its bundle archive. */
export interface BuiltRulesBundle {
  revision: string;
  bytes: Uint8Array;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function tarGz(files: { name: string; data: Uint8Array }[]): Promise<Uint8Array> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((ok, fail) => {
    p.on('end', () => ok());
    p.on('error', fail);
  });
  // A fixed time and mode: the same rules over the same base give the same bytes.
  for (const f of files) p.entry({ name: f.name, mtime: new Date(0), mode: 0o644 }, Buffer.from(f.data));
  p.finalize();
  return done.then(() => new Uint8Array(gzipSync(Buffer.concat(chunks))));
}

function modulePath(manifest: BundleManifest): string {
  const first = Array.isArray(manifest.wasm) ? manifest.wasm[0] : undefined;
  return isObject(first) && typeof first.module === 'string' ? first.module : '/policy.wasm';
}

/** The manifest of a rules revision: the base module's entry points under the new revision. */
function rulesManifest(base: BundleManifest, revision: string): BundleManifest {
  const manifest: BundleManifest = { revision };
  if (base.wasm !== undefined) manifest.wasm = base.wasm;
  if (base.rego_version !== undefined) manifest.rego_version = base.rego_version;
  return manifest;
}

/**
 * Builds a rules revision: the base policy's WASM module with `{allowance_rules: {base_revision, rules}}` as the
 * only data document. Named after the SHA-256 of the module and the canonical rules, and written
 * deterministically, so the same rules over the same base are the same revision with the same bytes.
 */
export async function buildRulesBundle(base: PolicyBundle, rules: unknown[]): Promise<BuiltRulesBundle> {
  const doc: RulesDocument = { base_revision: base.manifest.revision, rules };
  const data = canonicalJson({ [RULES_DATA_KEY]: doc });
  const digest = createHash('sha256').update(base.wasm).update('\u0000').update(data).digest('hex');
  const revision = `rules-${digest.slice(0, 16)}`;
  const encoder = new TextEncoder();
  const bytes = await tarGz([
    { name: '/.manifest', data: encoder.encode(canonicalJson(rulesManifest(base.manifest, revision))) },
    { name: modulePath(base.manifest), data: base.wasm },
    { name: '/data.json', data: encoder.encode(data) },
  ]);
  return { revision, bytes };
}

/** The rules document of a bundle, or null when it is not a rules revision. */
export function rulesDocumentOf(bundle: PolicyBundle): RulesDocument | null {
  const doc = bundle.data[RULES_DATA_KEY];
  if (!isObject(doc) || !Array.isArray(doc.rules) || typeof doc.base_revision !== 'string') return null;
  return { base_revision: doc.base_revision, rules: doc.rules };
}

const PROBE_RULES = [{ id: 'probe', priority: 0, is_active: true, conditions: {}, action: { type: 'deny' } }];
const probes = new WeakMap<LoadedPolicy, Promise<boolean>>();

/**
 * Whether a base policy evaluates rules data (has this project's rules module): its module, given one rule
 * that denies everything, must deny a smoke payment with `rule_denied`. Checked once per loaded base.
 */
export function supportsRules(base: LoadedPolicy): Promise<boolean> {
  let probe = probes.get(base);
  if (!probe) {
    const source = base.source;
    probe = source
      ? loadPolicy({
          ...source,
          data: { [RULES_DATA_KEY]: { base_revision: source.manifest.revision, rules: PROBE_RULES } },
        })
          .then((p) => {
            const input = smokeSpendInputs()[0];
            if (!input) return false;
            const d = p.evaluateSpend(input);
            return d.action === 'DENY' && d.reasons.length === 1 && d.reasons[0] === 'rule_denied';
          })
          .catch(() => false)
      : Promise.resolve(false);
    probes.set(base, probe);
  }
  return probe;
}
