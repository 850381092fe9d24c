/**
 * A fresh, migrated database per test file on the real Postgres server (DATABASE_URL's
 * server, or 127.0.0.1:5432), dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../db/migrate';
import { createPool, type Db } from '../../db/pool';
import { ensureDatabase } from '../../runtime/postgres';

export function serverUrl(): string {
  if (!process.env.DATABASE_URL) return 'postgres://postgres@127.0.0.1:5432';
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = '';
  return url.toString().replace(/\/$/, '');
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `parcours_test_${randomBytes(5).toString('hex')}`;
  const url = await ensureDatabase(serverUrl(), name);
  const db = createPool(url);
  await migrate(db);
  return {
    name,
    url,
    db,
    async drop() {
      await db.end();
      const admin = new pg.Client({ connectionString: `${serverUrl()}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}
