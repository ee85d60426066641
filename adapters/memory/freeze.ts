/** Freezes `value` and everything reachable from it, in place; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    const obj = value as Record<string, unknown>;
    for (const key in obj) deepFreeze(obj[key]);
  }
  return value;
}
