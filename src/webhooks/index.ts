export { DEFAULT_WEBHOOK_CONFIG, type WebhookConfig } from '../config/index.js';
export * from './create-webhooks.js';
export * from './deliveries.js';
export * from './dispatcher.js';
export * from './sender.js';
export * from './service.js';
export * from './signing.js';
export * from './target-guard.js';
