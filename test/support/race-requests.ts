/**
 * The authorization bodies of the two-process race: a request is a pure function of its key, so both
 * processes send byte-identical bodies for a shared key (same request hash, same idempotency record).
 */
export function raceRequest(key: number | string, reference: string) {
  const n = typeof key === 'number' ? key : Number(key.split('_').pop()) + 1000;
  return {
    authorization_id: typeof key === 'number' ? `pa_shared_${key}` : `pa_${key}`,
    credential_reference: reference,
    amount: 1000 + ((n * 7919) % 2000),
    currency: 'USD',
    merchant: { id: 'mer_3c7a1b9f', name: 'Example Store', mcc: '5734', country: 'US' },
    channel: 'online',
  };
}
