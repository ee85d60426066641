import { SpanKind } from '@opentelemetry/api';
import type { LoadedPolicy } from '../policy/index.js';
import type { Decision } from '../types.js';
import { traced, tracedChild, tracingActive } from '../util/tracing.js';

/**
 * The spans of an authorization (when a tracer provider is registered; see src/util/tracing.ts):
 * `allowance.authorize` with the store calls, the policy evaluation and the signing as its children.
 * Attributes name ids and outcomes, never a secret, a credential reference or a request body. Without a
 * tracer provider each helper calls its function at once, before building any attribute.
 */

/** `allowance.authorize` around one engine.authorize; the decision's ids and outcome become attributes. */
export function traceAuthorize(processorId: string, body: unknown, run: () => Promise<Decision>): Promise<Decision> {
  if (!tracingActive()) return run();
  const id = (body as { authorization_id?: unknown } | null)?.authorization_id;
  return traced(
    'allowance.authorize',
    {
      'allowance.processor_id': processorId,
      ...(typeof id === 'string' ? { 'allowance.authorization_id': id } : {}),
    },
    (span) => {
      const work = run();
      if (!span) return work;
      return work.then((d) => {
        span.setAttributes({
          'allowance.org_id': d.org_id ?? '',
          'allowance.decision.action': d.action,
          'allowance.decision.reason_codes': d.reason_codes,
          'allowance.decision.stand_in': d.stand_in,
          'allowance.policy.revision': d.policy_revision ?? '',
        });
        return d;
      });
    },
    SpanKind.INTERNAL,
  );
}

/** `allowance.store.<method>`: one store call of an authorization. */
export function traceStoreCall<T>(method: string, call: () => Promise<T>): Promise<T> {
  if (!tracingActive()) return call();
  return tracedChild(`allowance.store.${method}`, { 'db.operation.name': method }, call);
}

/** `allowance.policy.evaluate`: the base policy and the org's layered on it, for one org. */
export function tracePolicy<T>(orgId: string, base: LoadedPolicy, org: LoadedPolicy | null, run: () => T): T {
  if (!tracingActive()) return run();
  return tracedChild(
    'allowance.policy.evaluate',
    {
      'allowance.org_id': orgId,
      'allowance.policy.revision': base.revision,
      ...(org ? { 'allowance.policy.org_revision': org.revision } : {}),
    },
    run,
  );
}

/** A signer whose signatures made inside a traced operation are `allowance.sign` spans. */
export function tracedSigner(sign: (payload: object) => string, kid: string): (payload: object) => string {
  return (payload) =>
    tracingActive() ? tracedChild('allowance.sign', { 'allowance.sign.kid': kid }, () => sign(payload)) : sign(payload);
}
