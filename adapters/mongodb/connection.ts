import { type Db, MongoClient, type MongoClientOptions } from 'mongodb';

/** The database used when neither the options nor the URI name one. */
export const DEFAULT_DB = 'allowance';

/** Numbers come back as JS numbers (never Long), and undefined fields are not stored. */
export const BSON_OPTIONS = {
  promoteLongs: true,
  promoteValues: true,
  useBigInt64: false,
  ignoreUndefined: true,
} as const;

/** The database named in a connection string, if any. */
export function dbNameOf(uri: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(uri);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** Where a store connects: a caller-owned client, or a URI (default: `MONGODB_URI`). */
export interface ConnectionOptions {
  /** Connection string. Default: the `MONGODB_URI` environment variable. Ignored when `client` is given. */
  uri?: string;
  /** Database name. Default: the database named in the URI, else `allowance`. */
  dbName?: string;
  /** A client owned by the caller: used as is, and not closed by `close()`. */
  client?: MongoClient;
  /** Options for the client created from `uri`. */
  clientOptions?: MongoClientOptions;
}

/** An opened connection: the client, whether the store owns (and so closes) it, and the database. */
export interface Connection {
  client: MongoClient;
  ownsClient: boolean;
  db: Db;
}

/** Resolves the options of a store to a client and a database; `who` names the store in errors. */
export function openConnection(options: ConnectionOptions, who: string): Connection {
  const uri = options.uri ?? process.env.MONGODB_URI;
  let client: MongoClient;
  let ownsClient: boolean;
  if (options.client) {
    client = options.client;
    ownsClient = false;
  } else if (uri) {
    client = new MongoClient(uri, options.clientOptions);
    ownsClient = true;
  } else {
    throw new TypeError(`${who}: pass \`uri\` or \`client\`, or set MONGODB_URI`);
  }
  const db = client.db(options.dbName ?? (uri ? dbNameOf(uri) : undefined) ?? DEFAULT_DB, BSON_OPTIONS);
  return { client, ownsClient, db };
}
