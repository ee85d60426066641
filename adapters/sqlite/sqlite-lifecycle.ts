import type { StoreLifecycle } from '../../src/storage/index.js';
import { SqliteStore } from './sqlite-store.js';

/** {@link StoreLifecycle} on SQLite: the file is opened and migrated by `openDatabase`; `close()` closes it. */
export class SqliteLifecycle extends SqliteStore implements StoreLifecycle {
  async init(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async ping(): Promise<void> {
    await this.read(() => this.sql('SELECT 1').get());
  }
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
