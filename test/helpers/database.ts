/**
 * A fresh, migrated database per test file on the real Postgres server (DATABASE_URL's server, or 127.0.0.1:5432),
 * dropped afterwards. Migrating costs seconds, so the migrations run once into a template database named after
 * their content, and each test file's database is a copy of it (`CREATE DATABASE … TEMPLATE`, milliseconds).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, migrate, migrationFiles } from '../../db/migrate';
import { createPool, type Db } from '../../db/pool';

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

const TEMPLATE_LOCK = 72_616_374;

/** The template's name changes with any migration file, so a stale template is never copied. */
function templateName(): string {
  const hash = createHash('sha256');
  for (const file of migrationFiles()) hash.update(file).update(readFileSync(path.join(MIGRATIONS_DIR, file)));
  return `parcours_tpl_${hash.digest('hex').slice(0, 16)}`;
}

/** One statement-level session on the server's `postgres` database (create and drop databases). */
export async function withAdmin<T>(use: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${serverUrl()}/postgres` });
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.end();
  }
}

/** Templates of other migration sets (other branches, older runs) unused for this long are dropped. */
const TEMPLATE_UNUSED_MS = 6 * 3600_000;

/** Copies the current template into `name`, building the template first if needed; all under one lock. */
async function copyTemplate(admin: pg.Client, name: string): Promise<void> {
  const template = templateName();
  await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (!rowCount) {
      // Built under another name and renamed when complete: a run killed half way leaves no half-migrated template.
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${building}"`);
      await migrate(`${serverUrl()}/${building}`);
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    }
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    // When each template was last copied, so long-unused ones can go (never one in use: all of this holds the lock).
    await admin.query(`COMMENT ON DATABASE "${template}" IS '${Date.now()}'`);
    const { rows } = await admin.query<{ datname: string; used: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS used FROM pg_database
       WHERE datname LIKE 'parcours\\_tpl\\_%' AND datname <> $1`,
      [template],
    );
    for (const old of rows) {
      if (Date.now() - Number(old.used ?? 0) > TEMPLATE_UNUSED_MS)
        await admin.query(`DROP DATABASE IF EXISTS "${old.datname}"`).catch(() => undefined);
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `parcours_test_${randomBytes(5).toString('hex')}`;
  await withAdmin((admin) => copyTemplate(admin, name));
  const url = `${serverUrl()}/${name}`;
  const db = createPool(url);
  return {
    name,
    url,
    db,
    async drop() {
      await db.end();
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
