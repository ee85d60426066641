/**
 * The authorization bodies of the two-process race: a request is a pure function of its key, so both
 * processes send byte-identical bodies for a shared key (same request hash, same idempotency record).
 * With `intentId`, every other request names that intent, so it decides through a pending claim (the
 * others reserve first and then insert their record).
 */
export function raceRequest(key: number | string, reference: string, intentId?: string) {
  const n = typeof key === 'number' ? key : Number(key.split('_').pop()) + 1000;
  return {
    authorization_id: typeof key === 'number' ? `pa_shared_${key}` : `pa_${key}`,
    credential_reference: reference,
    amount: 1000 + ((n * 7919) % 2000),
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
    ...(intentId !== undefined && n % 2 === 0 ? { intent_id: intentId } : {}),
  };
}
