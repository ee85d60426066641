import {
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { StorageError } from '../../src/storage/index.js';

/** Server error codes meaning "try again elsewhere or later": not primary, shutting down, timed out. */
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const UNAVAILABLE_CLASSES = [
  MongoNetworkError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoNotConnectedError,
];

/** True when `err` is MongoDB's duplicate key error (E11000). Only the code is reliable across servers. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoError && (err.code === 11000 || err.code === 11001);
}

/**
 * Maps anything the driver throws to the contract's StorageError: a duplicate key is `conflict`,
 * an unreachable, stepping-down or timed-out server is `unavailable`, anything else `internal`.
 * Error names are checked as well as classes, so a second copy of the driver maps the same way.
 */
export function toStorageError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  if (isDuplicateKey(err)) return new StorageError('conflict', 'duplicate key', { cause: err });
  const name = (err as { name?: unknown } | null)?.name;
  const transient =
    UNAVAILABLE_CLASSES.some((c) => err instanceof c) ||
    (typeof name === 'string' &&
      /^Mongo(Network|ServerSelection|TopologyClosed|NotConnected|ClientClosed|OperationTimeout)/.test(name)) ||
    (err instanceof MongoError &&
      ((typeof err.code === 'number' && UNAVAILABLE_CODES.has(err.code)) || err.hasErrorLabel('RetryableWriteError')));
  if (transient) return new StorageError('unavailable', 'MongoDB is unavailable', { cause: err });
  return new StorageError('internal', 'MongoDB operation failed', { cause: err });
}

/**
 * Runs one store call: `unavailable` once the store is closed, and whatever the driver throws mapped by
 * {@link toStorageError}. Shared by the adapter and the credential storage.
 */
export async function runMapped<T>(closed: boolean, store: string, fn: () => Promise<T>): Promise<T> {
  if (closed) throw new StorageError('unavailable', `the ${store} is closed`);
  try {
    return await fn();
  } catch (err) {
    throw toStorageError(err);
  }
}
