import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError } from '../../src/errors/index.js';
import { StorageError, toAppError } from '../../src/storage/index.js';

const test = suite('toAppError: one mapping of store failures for the engine and the HTTP layer');

test('storage error kinds map to their codes', () => {
  assert.is(toAppError(new StorageError('conflict', 'x')).code, 'conflict');
  assert.is(toAppError(new StorageError('unavailable', 'x')).code, 'storage_unavailable');
  assert.is(toAppError(new StorageError('internal', 'x')).code, 'storage_internal');
});

test('an AppError passes through unchanged', () => {
  const err = new AppError('not_found', 'gone');
  assert.is(toAppError(err), err);
});

test('an unknown error is storage_internal by default (a store call), internal_error when asked (a request)', () => {
  assert.is(toAppError(new Error('boom')).code, 'storage_internal');
  assert.is(toAppError(new Error('boom'), { otherwise: 'internal_error' }).code, 'internal_error');
  assert.is(toAppError(new StorageError('internal', 'x'), { otherwise: 'internal_error' }).code, 'storage_internal');
});

test('a conflict keeps the store message unless the caller words it', () => {
  assert.is(toAppError(new StorageError('conflict', 'taken')).message, 'taken');
  assert.is(toAppError(new StorageError('conflict', 'taken'), { conflictMessage: 'changed' }).message, 'changed');
});

test.run();
