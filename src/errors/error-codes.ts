/**
 * Every error code the engine and the API can return, with its HTTP status.
 * Codes are part of the public contract: stable lower snake_case, never renamed once shipped.
 */
export const ERROR_CODES = {
  malformed_request: 400,
  /** Objects and arrays nested deeper than the accepted limit (a body or an engine input). */
  nesting_too_deep: 400,
  /** The request's header section is larger than the server accepts (refused by the HTTP parser). */
  headers_too_large: 431,
  /** The client did not send its request (headers or body) within the server's request timeout. */
  request_timeout: 408,
  validation_failed: 422,
  unauthorized: 401,
  /** A processor's call to a bridge whose signature is missing, wrong or too old, or whose org has no such bridge. */
  bridge_signature_invalid: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  invalid_state: 409,
  /** An enterprise read by authorization_id that several processors used: name processor_id. */
  authorization_ambiguous: 409,
  idempotency_mismatch: 409,
  idempotency_in_progress: 409,
  processor_not_active: 403,
  webhook_target_forbidden: 422,
  webhook_target_unresolvable: 422,
  rate_limited: 429,
  /** The org's plan does not allow more of a resource (`details`: resource, quota, used, resets_at). */
  quota_exceeded: 402,
  /** A webhook URL outside the org's verified domains while the org allows only those. */
  webhook_domain_not_verified: 422,
  /** The DNS TXT record proving a domain was not found or does not carry the token (`details.reason`). */
  domain_verification_failed: 422,
  /** The configured DNS resolvers did not answer (timeout, refused, server failure): try again later. */
  dns_unavailable: 503,
  policy_unavailable: 503,
  policy_revision_conflict: 409,
  policy_bundle_too_large: 413,
  policy_bundle_invalid: 422,
  /** A rules document (PUT /v1/policy-rules) that is not valid: `details` name the rule (index, id) and the path. */
  rules_invalid: 422,
  /** The base policy in force cannot evaluate rules (a custom base without the rules module), or the org requires signed bundles. */
  rules_unsupported: 409,
  policy_evaluation_failed: 500,
  policy_no_result: 500,
  policy_output_invalid: 500,
  /** An approval link whose signature, form or approval does not check out, or that a newer link replaced. */
  approval_link_invalid: 403,
  /** An approval link past its expiry. */
  approval_link_expired: 410,
  /** An approval link of an approval already decided or expired: a link decides once. */
  approval_link_used: 409,
  storage_unavailable: 503,
  storage_internal: 500,
  internal_error: 500,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
