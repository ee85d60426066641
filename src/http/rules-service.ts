import type { ErrorObject } from 'ajv';
import type { Engine } from '../engine/index.js';
import { AppError } from '../errors/index.js';
import {
  buildRulesBundle,
  RULES_REVISION_PATTERN,
  type RulesDocument,
  readPolicyBundle,
  rulesDocumentOf,
  supportsRules,
} from '../policy/index.js';
import { ajv, ruleSchema, rulesInputSchema } from '../schemas/index.js';
import type { PolicyStorage } from '../storage/index.js';
import type { PolicyService, PolicyView } from './policy-service.js';

/** A rules revision as the API shows it. */
export interface RulesRevisionView {
  revision: string;
  org_id: string;
  status: PolicyView['status'];
  base_revision: string;
  rules: unknown[];
  uploaded_at: string;
  uploaded_by: string;
}

/** One rule as the Rego module reads it (after validation, defaults filled in). */
interface Rule {
  id: string;
  priority: number;
  is_active: boolean;
  conditions: {
    amount?: { gte?: number; lte?: number };
    time_of_day?: { from: string; to: string };
  };
}

/** Listing pages read to find the newest rules revision. */
const LATEST_PAGES = 20;

// The rule schema first: the input schema refers to it by id.
if (!ajv.getSchema(ruleSchema.$id)) ajv.addSchema(ruleSchema);
const validateInput = ajv.getSchema(rulesInputSchema.$id) ?? ajv.compile(rulesInputSchema);

function issuesOf(errors: ErrorObject[] | null | undefined) {
  return (errors ?? []).map((e) => ({
    path: e.instancePath || '/',
    message: e.message ?? 'is invalid',
    keyword: e.keyword,
  }));
}

/** `rules_invalid` pointing at a rule: its index and id, the JSON pointer of the problem and a stable problem code. */
function invalid(
  problem: string,
  message: string,
  path: string,
  rules: unknown,
  errors?: ReturnType<typeof issuesOf>,
): AppError {
  const m = /^\/rules\/(\d+)(?:\/|$)/.exec(path);
  const index = m ? Number(m[1]) : null;
  const rule = index !== null && Array.isArray(rules) ? (rules[index] as { id?: unknown } | undefined) : undefined;
  const ruleId = typeof rule?.id === 'string' ? rule.id : null;
  const where = index === null ? path : `rule ${index}${ruleId ? ` (${ruleId})` : ''} at ${path}`;
  return new AppError('rules_invalid', `${where}: ${message}`, {
    details: { problem, index, rule_id: ruleId, path, ...(errors ? { errors } : {}) },
  });
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * Validates a rules document: the schema (problem `schema`, the first error's path, every error listed), then
 * what a schema cannot say: unique rule ids (`duplicate_rule_id`), an amount range that matches nothing
 * (`empty_amount_range`), a time window whose ends are equal (`empty_time_window`). Fills in defaults.
 */
export function validateRules(body: unknown): Rule[] {
  const rules = (body as { rules?: unknown } | null)?.rules;
  if (!validateInput(body)) {
    const errors = issuesOf(validateInput.errors);
    // The most specific problem first: the deepest path names the field to fix.
    const first = [...errors].sort((a, b) => b.path.split('/').length - a.path.split('/').length)[0];
    throw invalid('schema', first ? first.message : 'is invalid', first?.path ?? '/', rules, errors);
  }
  const list = (body as { rules: Rule[] }).rules;
  const seen = new Map<string, number>();
  list.forEach((rule, i) => {
    const earlier = seen.get(rule.id);
    if (earlier !== undefined) {
      throw invalid('duplicate_rule_id', `the id is already used by rule ${earlier}`, `/rules/${i}/id`, list);
    }
    seen.set(rule.id, i);
    const amount = rule.conditions.amount;
    if (amount?.gte !== undefined && amount.lte !== undefined && amount.gte > amount.lte) {
      throw invalid('empty_amount_range', 'gte is above lte', `/rules/${i}/conditions/amount`, list);
    }
    const window = rule.conditions.time_of_day;
    if (window && minutes(window.from) === minutes(window.to)) {
      throw invalid('empty_time_window', 'from and to are equal', `/rules/${i}/conditions/time_of_day`, list);
    }
  });
  return list;
}

/**
 * Rules as data: an org's ordered rules become an org policy revision (the base policy's WASM, whose rules
 * module reads them as data), stored and checked like an uploaded bundle, then shadowed, replayed, promoted
 * and rolled back through the policy routes like any revision.
 */
export class RulesService {
  constructor(
    private readonly engine: Engine,
    private readonly policies: PolicyService,
    private readonly storage: PolicyStorage | null,
  ) {}

  #storage(): PolicyStorage {
    if (!this.storage) throw new AppError('policy_unavailable', 'this server keeps no policy storage');
    return this.storage;
  }

  /** Validates the rules and stores them as a draft revision (201; the same rules over the same base: 200). */
  async put(orgId: string, body: unknown, actor: string): Promise<{ created: boolean; rules: RulesRevisionView }> {
    const rules = validateRules(body);
    const storage = this.#storage();
    if ((await storage.getState(orgId)).signing_key !== null) {
      throw new AppError(
        'rules_unsupported',
        'the org accepts only signed policy bundles; a rules revision is built by the server and unsigned',
      );
    }
    const base = this.engine.policiesFor(orgId).active;
    if (!base.source || !(await supportsRules(base))) {
      throw new AppError('rules_unsupported', `the base policy ${base.revision} has no rules module`, {
        details: { base_revision: base.revision },
      });
    }
    const built = await buildRulesBundle(base.source, rules);
    const { created, policy } = await this.policies.upload(orgId, built.bytes, actor);
    return { created, rules: this.#view(policy, { base_revision: base.source.manifest.revision, rules }) };
  }

  /** The rules of one of the org's rules revisions (404 for another org's or a bundle that holds no rules). */
  async get(orgId: string, revision: string): Promise<RulesRevisionView> {
    const doc = RULES_REVISION_PATTERN.test(revision) ? await this.#document(orgId, revision) : null;
    if (!doc) throw new AppError('not_found', `rules revision ${revision} not found`);
    return this.#view(await this.policies.get(orgId, revision), doc);
  }

  /** The org's newest rules revision (the draft last put), whatever its status; 404 when it has none. */
  async latest(orgId: string): Promise<RulesRevisionView> {
    const storage = this.#storage();
    let cursor: string | undefined;
    for (let page = 0; page < LATEST_PAGES; page++) {
      const list = await storage.listBundles(orgId, { limit: 100, ...(cursor ? { cursor } : {}) });
      for (const meta of list.items) {
        if (!RULES_REVISION_PATTERN.test(meta.revision)) continue;
        const doc = await this.#document(orgId, meta.revision);
        if (doc) return this.#view(await this.policies.get(orgId, meta.revision), doc);
      }
      if (!list.next_cursor) break;
      cursor = list.next_cursor;
    }
    throw new AppError('not_found', 'the org has no rules revision');
  }

  async #document(orgId: string, revision: string): Promise<RulesDocument | null> {
    const bytes = await this.#storage().getBundleBytes(orgId, revision);
    return bytes ? rulesDocumentOf(readPolicyBundle(bytes)) : null;
  }

  #view(policy: PolicyView, doc: RulesDocument): RulesRevisionView {
    return {
      revision: policy.revision,
      org_id: policy.org_id,
      status: policy.status,
      base_revision: doc.base_revision,
      rules: doc.rules,
      uploaded_at: policy.uploaded_at,
      uploaded_by: policy.uploaded_by,
    };
  }
}
