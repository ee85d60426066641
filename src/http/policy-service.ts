import type { Engine, PolicySet } from '../engine/index.js';
import { AppError } from '../errors/index.js';
import {
  BundleRejection,
  checkBundleIsolated,
  type IsolatedCheck,
  loadPolicy,
  type PolicyRegistry,
  parseSigningKey,
  REVISION_PATTERN,
} from '../policy/index.js';
import type { PolicyBundleMeta, PolicyState, PolicyStateChange, PolicyStorage } from '../storage/index.js';
import type { Clock } from '../util/clock.js';
import { isoTime } from '../util/clock.js';
import type { AppContext } from './types.js';

/** Default of ALLOWANCE_POLICY_MAX_BYTES: the largest bundle upload. */
export const DEFAULT_POLICY_MAX_BYTES = 10 * 1024 * 1024;

/** Earlier active revisions kept for rollback. */
const PREVIOUS_KEPT = 20;
/** Compare-and-set attempts of one state change before it reports a conflict. */
const CAS_ATTEMPTS = 5;

const BUNDLE_TYPES = /^application\/(?:gzip|x-gzip|octet-stream)\s*(?:;|$)/i;

/** A policy as the API shows it. */
export interface PolicyView {
  revision: string;
  org_id: string;
  status: 'inactive' | 'active' | 'shadow' | 'retired';
  sha256: string;
  size_bytes: number;
  entrypoints: string[];
  uploaded_at: string;
  uploaded_by: string;
  activated_at: string | null;
}

/** The state part of policy responses. */
export interface PolicyStateView {
  active_revision: string | null;
  shadow_revision: string | null;
  previous_revision: string | null;
  rollback_available: boolean;
  activated_at: string | null;
}

/** What the policy routes need. */
export interface PolicyServiceDeps {
  engine: Engine;
  storage: PolicyStorage | null;
  registry: PolicyRegistry | null;
  clock: Clock;
  maxBytes?: number;
  /** SHA-256 of the bundle file the server started with (GET /v1/base-policy before any promotion). */
  fileBaseSha256?: string | null;
  /** Time limit of the checks of one upload (they run in a worker). Default 10 s. */
  checkTimeoutMs?: number;
}

function view(meta: PolicyBundleMeta, state: PolicyState): PolicyView {
  const active = state.active === meta.revision;
  const status = active
    ? 'active'
    : state.shadow === meta.revision
      ? 'shadow'
      : meta.retired_at !== null
        ? 'retired'
        : 'inactive';
  return {
    revision: meta.revision,
    org_id: meta.org_id as string,
    status,
    sha256: meta.sha256,
    size_bytes: meta.size_bytes,
    entrypoints: [...meta.entrypoints],
    uploaded_at: meta.uploaded_at,
    uploaded_by: meta.uploaded_by,
    activated_at: active ? state.activated_at : null,
  };
}

function stateView(state: PolicyState): PolicyStateView {
  const top = state.previous.length > 0 ? (state.previous[state.previous.length - 1] ?? null) : null;
  return {
    active_revision: state.active,
    shadow_revision: state.shadow,
    previous_revision: top,
    rollback_available: state.previous.length > 0,
    activated_at: state.activated_at,
  };
}

function changeOf(state: PolicyState): PolicyStateChange {
  return {
    active: state.active,
    shadow: state.shadow,
    previous: [...state.previous],
    activated_at: state.activated_at,
    signing_key: state.signing_key,
  };
}

/**
 * Upload, listing and lifecycle of per-org policy bundles (and the operator's base bundle): validation,
 * compare-and-set state changes with their audit events, and a registry refresh so this server applies a
 * change at once (the others within their poll interval).
 */
export class PolicyService {
  readonly maxBytes: number;
  readonly #deps: PolicyServiceDeps;

  constructor(deps: PolicyServiceDeps) {
    this.#deps = deps;
    this.maxBytes = deps.maxBytes ?? DEFAULT_POLICY_MAX_BYTES;
  }

  #storage(): PolicyStorage {
    const s = this.#deps.storage;
    if (!s) throw new AppError('policy_unavailable', 'this server keeps no policy storage');
    return s;
  }

  /**
   * Applies a state change on this server before answering. The change is stored either way: when the
   * refresh fails (the store hiccups), the registry's poll applies it, so the caller is not told to retry.
   */
  async #refresh(): Promise<void> {
    await this.#deps.registry?.refresh().catch(() => {});
  }

  /**
   * Reads a bundle upload: a gzip or octet-stream body of at most `maxBytes`, refused (413) from its
   * Content-Length or as soon as more arrives, never buffered whole.
   */
  async readBundle(ctx: AppContext): Promise<Uint8Array> {
    const req = ctx.req;
    const type = req.headers['content-type'] ?? '';
    const tooLarge = () => {
      // The rest of the body is not read: the connection cannot be reused.
      ctx.set('Connection', 'close');
      return new AppError('policy_bundle_too_large', `the bundle exceeds ${this.maxBytes} bytes`, {
        details: { max_bytes: this.maxBytes },
      });
    };
    if (!BUNDLE_TYPES.test(type)) {
      ctx.set('Connection', 'close');
      throw new AppError('unsupported_media_type', 'send the bundle as application/gzip or application/octet-stream');
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.maxBytes) throw tooLarge();
      chunks.push(chunk as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  async #check(bytes: Uint8Array, signingKey: string | null): Promise<IsolatedCheck> {
    if (bytes.length === 0) {
      throw new AppError('policy_bundle_invalid', 'the body is empty', {
        details: { problem: 'not_gzip', detail: 'the body is empty' },
      });
    }
    try {
      // In a worker with a time limit: the uploaded module is untrusted code.
      return await checkBundleIsolated(
        bytes,
        { maxUnpackedBytes: this.maxBytes * 8, signingKey },
        this.#deps.checkTimeoutMs,
      );
    } catch (err) {
      if (err instanceof BundleRejection) {
        if (err.problem === 'too_large') {
          throw new AppError('policy_bundle_too_large', err.detail, { details: { max_bytes: this.maxBytes } });
        }
        throw new AppError('policy_bundle_invalid', `the bundle is refused: ${err.detail}`, {
          details: { problem: err.problem, detail: err.detail },
        });
      }
      throw err;
    }
  }

  /** Validates and stores an org bundle: 201 when new, 200 when the same revision and content exist. */
  async upload(orgId: string, bytes: Uint8Array, actor: string): Promise<{ created: boolean; policy: PolicyView }> {
    const storage = this.#storage();
    const state = await storage.getState(orgId);
    const checked = await this.#check(bytes, state.signing_key);
    const nowMs = this.#deps.clock.now();
    const record = {
      org_id: orgId,
      revision: checked.revision,
      sha256: checked.sha256,
      size_bytes: checked.size_bytes,
      entrypoints: checked.entrypoints,
      uploaded_at: isoTime(nowMs),
      uploaded_by: actor,
      retired_at: null,
      bytes,
    };
    const drafts = this.#deps.engine.auditDraft({
      orgId,
      type: 'policy.uploaded',
      subject: { kind: 'policy', id: checked.revision },
      agentId: null,
      payload: { revision: checked.revision, sha256: checked.sha256, size_bytes: checked.size_bytes },
      actor,
      atMs: nowMs,
    });
    const result = await storage.insertBundle(record, drafts);
    if (result.status === 'conflict') {
      throw new AppError('policy_revision_conflict', `revision ${checked.revision} exists with other content`, {
        details: { revision: checked.revision, sha256: result.bundle.sha256 },
      });
    }
    return { created: result.status === 'inserted', policy: view(result.bundle, await storage.getState(orgId)) };
  }

  /** The org's bundles, newest first, with its state. */
  async list(orgId: string, query: { limit: number; cursor?: string }) {
    const storage = this.#storage();
    const [page, state] = await Promise.all([storage.listBundles(orgId, query), storage.getState(orgId)]);
    const { activated_at: _a, ...states } = stateView(state);
    return { items: page.items.map((b) => view(b, state)), next_cursor: page.next_cursor, ...states };
  }

  async #bundle(orgId: string, revision: string): Promise<PolicyBundleMeta> {
    const meta = REVISION_PATTERN.test(revision) ? await this.#storage().getBundle(orgId, revision) : null;
    if (!meta) throw new AppError('not_found', `policy revision ${revision} not found`);
    return meta;
  }

  async get(orgId: string, revision: string): Promise<PolicyView> {
    const meta = await this.#bundle(orgId, revision);
    return view(meta, await this.#storage().getState(orgId));
  }

  /**
   * One state change by compare-and-set, re-read and re-decided when another server changed the state in
   * between. `decide` returns the new state and its audit event, or null for "nothing to change".
   */
  async #change(
    orgId: string | null,
    decide: (state: PolicyState) => Promise<{ change: PolicyStateChange; event?: AuditSpec } | null>,
    actor: string,
  ): Promise<PolicyState> {
    const storage = this.#storage();
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const state = await storage.getState(orgId);
      const next = await decide(state);
      if (!next) return state;
      const drafts =
        orgId !== null && next.event
          ? this.#deps.engine.auditDraft({
              orgId,
              type: next.event.type,
              subject: { kind: 'policy', id: next.event.revision },
              agentId: null,
              payload: next.event.payload,
              actor,
            })
          : undefined;
      const written = await storage.updateState(orgId, state.version, next.change, drafts);
      if (written) {
        await this.#refresh();
        return written;
      }
    }
    throw new AppError('conflict', 'the policy state kept changing; try again');
  }

  /** Makes a revision the org's active one (the old one goes on the rollback stack). */
  async promote(orgId: string, revision: string, actor: string): Promise<PolicyStateView> {
    const meta = await this.#bundle(orgId, revision);
    if (meta.retired_at !== null) throw new AppError('invalid_state', `revision ${revision} is retired`);
    const state = await this.#change(
      orgId,
      async (s) => {
        if (s.active === revision) return null;
        const previous = [...s.previous, s.active].slice(-PREVIOUS_KEPT);
        return {
          change: {
            ...changeOf(s),
            active: revision,
            shadow: s.shadow === revision ? null : s.shadow,
            previous,
            activated_at: isoTime(this.#deps.clock.now()),
          },
          event: {
            type: 'policy.promoted',
            revision,
            payload: { revision, previous_revision: s.active, shadow_cleared: s.shadow === revision },
          },
        };
      },
      actor,
    );
    return stateView(state);
  }

  /** Back to the previous active revision (or base only, when that was the previous state). */
  async rollback(orgId: string, actor: string): Promise<PolicyStateView> {
    const storage = this.#storage();
    const state = await this.#change(
      orgId,
      async (s) => {
        if (s.previous.length === 0) throw new AppError('invalid_state', 'there is no previous policy state');
        const target = s.previous[s.previous.length - 1] ?? null;
        if (target !== null) {
          const meta = await storage.getBundle(orgId, target);
          if (!meta || meta.retired_at !== null) {
            throw new AppError('invalid_state', `the previous revision ${target} is retired`);
          }
        }
        return {
          change: {
            ...changeOf(s),
            active: target,
            shadow: s.shadow === target ? null : s.shadow,
            previous: s.previous.slice(0, -1),
            activated_at: target === null ? null : isoTime(this.#deps.clock.now()),
          },
          event: {
            type: 'policy.rolled_back',
            revision: target ?? s.active ?? 'base',
            payload: { revision: target, from_revision: s.active },
          },
        };
      },
      actor,
    );
    return stateView(state);
  }

  /** Evaluates a revision beside the active one on every decision of the org (result never returned). */
  async setShadow(orgId: string, revision: string, actor: string): Promise<PolicyStateView> {
    const meta = await this.#bundle(orgId, revision);
    if (meta.retired_at !== null) throw new AppError('invalid_state', `revision ${revision} is retired`);
    const state = await this.#change(
      orgId,
      async (s) => {
        if (s.active === revision) throw new AppError('invalid_state', `revision ${revision} is the active one`);
        if (s.shadow === revision) return null;
        return {
          change: { ...changeOf(s), shadow: revision },
          event: { type: 'policy.shadow_started', revision, payload: { revision, replaced: s.shadow } },
        };
      },
      actor,
    );
    return stateView(state);
  }

  /** Stops shadow evaluation; nothing to stop is not an error. */
  async stopShadow(orgId: string, actor: string): Promise<PolicyStateView> {
    const state = await this.#change(
      orgId,
      async (s) =>
        s.shadow === null
          ? null
          : {
              change: { ...changeOf(s), shadow: null },
              event: { type: 'policy.shadow_stopped', revision: s.shadow, payload: { revision: s.shadow } },
            },
      actor,
    );
    return stateView(state);
  }

  /** Retires a revision: never promoted or shadowed again. Not the active or shadow one. */
  async retire(orgId: string, revision: string, actor: string): Promise<PolicyView> {
    const storage = this.#storage();
    const meta = await this.#bundle(orgId, revision);
    const state = await storage.getState(orgId);
    if (state.active === revision) throw new AppError('invalid_state', `revision ${revision} is active`);
    if (state.shadow === revision)
      throw new AppError('invalid_state', `revision ${revision} is the shadow; stop it first`);
    if (meta.retired_at !== null) return view(meta, state);
    const nowMs = this.#deps.clock.now();
    const drafts = this.#deps.engine.auditDraft({
      orgId,
      type: 'policy.retired',
      subject: { kind: 'policy', id: revision },
      agentId: null,
      payload: { revision },
      actor,
      atMs: nowMs,
    });
    const retired = await storage.retireBundle(orgId, revision, isoTime(nowMs), drafts);
    if (!retired) throw new AppError('not_found', `policy revision ${revision} not found`);
    return view(retired, await storage.getState(orgId));
  }

  /** Registers (or with null removes) the public key every later upload of the org must be signed with. */
  async setSigningKey(orgId: string, pem: string | null, actor: string) {
    if (pem !== null) {
      try {
        parseSigningKey(pem);
      } catch {
        throw new AppError('validation_failed', 'public_key is not a PEM public key', {
          details: { errors: [{ path: '/public_key', message: 'not a PEM public key' }] },
        });
      }
    }
    const state = await this.#change(
      orgId,
      async (s) => (s.signing_key === pem ? null : { change: { ...changeOf(s), signing_key: pem } }),
      actor,
    );
    return { signatures_required: state.signing_key !== null, public_key: state.signing_key };
  }

  /** Base + an uploaded org revision, for a simulation (loaded for the call, not kept). */
  async simulationPolicies(orgId: string, revision: string): Promise<PolicySet> {
    await this.#bundle(orgId, revision);
    const current = this.#deps.engine.policiesFor(orgId);
    // The active or shadow revision is loaded already; any other is loaded for this call only.
    const loaded = [current.org, current.orgShadow].find((p) => p?.revision === revision);
    let org = loaded ?? null;
    if (!org) {
      const bytes = await this.#storage().getBundleBytes(orgId, revision);
      if (!bytes) throw new AppError('not_found', `policy revision ${revision} not found`);
      org = await loadPolicy(bytes, { keepSource: false });
    }
    return { active: current.active, shadow: null, org, orgShadow: null };
  }

  /** The platform base policy in force on this server. */
  async getBase(): Promise<{ revision: string; sha256: string | null; activated_at: string | null }> {
    const registry = this.#deps.registry;
    if (!registry) throw new AppError('policy_unavailable', 'this server keeps no policy storage');
    const state = registry.baseState();
    if (state?.active) {
      const meta = await this.#storage().getBundle(null, state.active);
      return { revision: state.active, sha256: meta?.sha256 ?? null, activated_at: state.activated_at };
    }
    return { revision: registry.base().revision, sha256: this.#deps.fileBaseSha256 ?? null, activated_at: null };
  }

  /** Validates, stores and activates a base bundle for every server on the store (operator). */
  async setBase(bytes: Uint8Array, actor: string) {
    const storage = this.#storage();
    const checked = await this.#check(bytes, null);
    const nowMs = this.#deps.clock.now();
    const result = await storage.insertBundle({
      org_id: null,
      revision: checked.revision,
      sha256: checked.sha256,
      size_bytes: checked.size_bytes,
      entrypoints: checked.entrypoints,
      uploaded_at: isoTime(nowMs),
      uploaded_by: actor,
      retired_at: null,
      bytes,
    });
    if (result.status === 'conflict') {
      throw new AppError('policy_revision_conflict', `base revision ${checked.revision} exists with other content`, {
        details: { revision: checked.revision, sha256: result.bundle.sha256 },
      });
    }
    await this.#change(
      null,
      async (s) =>
        s.active === checked.revision
          ? null
          : {
              change: {
                ...changeOf(s),
                active: checked.revision,
                previous: [...s.previous, s.active].slice(-PREVIOUS_KEPT),
                activated_at: isoTime(nowMs),
              },
            },
      actor,
    );
    return this.getBase();
  }
}

interface AuditSpec {
  type: 'policy.promoted' | 'policy.rolled_back' | 'policy.shadow_started' | 'policy.shadow_stopped';
  revision: string;
  payload: Record<string, unknown>;
}
