/**
 * Creating the application's database on a Postgres server at startup (db/postgres.ts opens the admin
 * connection; the statements are here, as all SQL is in db/).
 */
import type pg from 'pg';

/** Creates database `name` through `admin` (connected to another database of the server) unless it exists. */
export async function createDatabaseIfMissing(admin: pg.ClientBase, name: string): Promise<void> {
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount !== 0) return;
  await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`).catch((err: { code?: string }) => {
    // Created concurrently (another process starting at the same moment): 42P04, or 23505 when
    // both passed the existence check and raced on the catalog.
    if (err.code !== '42P04' && err.code !== '23505') throw err;
  });
}
