import type { WindowUsage } from '../types.js';

/** The usage windows of a spending authority, in the order the engine and the ledgers walk them. */
export const WINDOWS = ['daily', 'weekly', 'monthly', 'total'] as const;

/** A window with nothing spent in `period`: a never-used authority, or a period that has rolled. */
export function emptyWindow(period: string): WindowUsage {
  return { period, spent: 0, count: 0 };
}
