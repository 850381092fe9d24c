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

async function withAdmin<T>(use: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${serverUrl()}/postgres` });
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.end();
  }
}

async function ensureTemplate(admin: pg.Client): Promise<string> {
  const template = templateName();
  await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (rowCount) return template;
    // Built under another name and renamed when complete: a run killed half way leaves no half-migrated template.
    const building = `${template}_building`;
    await admin.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${building}"`);
    await migrate(`${serverUrl()}/${building}`);
    await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    // Templates of older migration sets are of no use any more.
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'parcours\\_tpl\\_%' AND datname <> $1",
      [template],
    );
    for (const old of rows) await admin.query(`DROP DATABASE IF EXISTS "${old.datname}"`).catch(() => undefined);
    return template;
  } finally {
    await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `parcours_test_${randomBytes(5).toString('hex')}`;
  await withAdmin(async (admin) => {
    const template = await ensureTemplate(admin);
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  });
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
