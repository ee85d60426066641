export * from './chainer.js';
export * from './event-types.js';
export * from './export.js';
export * from './export-reader.js';
export * from './hash.js';
export * from './read.js';
export * from './types.js';
export * from './verify.js';
