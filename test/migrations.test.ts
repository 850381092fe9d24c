/**
 * Migrations as their own step: node-pg-migrate under a lock, on a connection without the app's timeouts, applied
 * files checked by checksum, a database of the former runner adopted, and API/worker refusing a schema behind.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, migrate, requireCurrentSchema, schemaStatus } from '../db/migrate';
import { serverUrl, withAdmin as admin } from './helpers/database';

const made: string[] = [];
const dirs: string[] = [];

async function emptyDatabase(): Promise<string> {
  const name = `parcours_mig_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  made.push(name);
  return `${serverUrl()}/${name}`;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'parcours-migrations-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(dir, name), body);
  return dir;
}

afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await admin(async (c) => {
    for (const name of made) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
});

test("the project's migrations apply once on an empty database; a second run applies nothing", async () => {
  const url = await emptyDatabase();
  const applied = await migrate(url);
  expect(applied).toEqual(
    readdirSync(MIGRATIONS_DIR)
      .map((f) => f.replace(/\.(sql|js)$/, ''))
      .sort(),
  );
  expect(await migrate(url)).toEqual([]);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    expect(await schemaStatus(c)).toEqual({ pending: [], unknown: [] });
    await expect(requireCurrentSchema(c)).resolves.toBeUndefined();
  } finally {
    await c.end();
  }
});

test('a database migrated by the former runner (schema_migrations) is adopted: nothing runs again', async () => {
  const url = await emptyDatabase();
  await migrate(url);
  // What the former runner left: its own table listing the files, no pgmigrations.
  await query(
    url,
    `CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
     INSERT INTO schema_migrations (name) SELECT name || '.sql' FROM pgmigrations;
     DROP TABLE pgmigrations; DROP TABLE schema_migration_checksums;`,
  );
  expect(await migrate(url)).toEqual([]);
  const rows = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM pgmigrations');
  expect(rows[0].n).toBe(readdirSync(MIGRATIONS_DIR).length);
});

test('an applied migration edited afterwards is refused by name; nothing else runs', async () => {
  const url = await emptyDatabase();
  const dir = migrationsDir({ '001_people.sql': 'CREATE TABLE people (id int);' });
  await migrate(url, { dir });
  writeFileSync(path.join(dir, '001_people.sql'), 'CREATE TABLE people (id bigint);');
  writeFileSync(path.join(dir, '002_more.sql'), 'CREATE TABLE more (id int);');
  await expect(migrate(url, { dir })).rejects.toThrow(/migration 001_people\.sql was changed after it ran/);
  expect(await query(url, "SELECT 1 FROM pg_tables WHERE tablename = 'more'")).toHaveLength(0);
});

test('two processes migrating at once: one waits for the other, each migration runs once', async () => {
  const url = await emptyDatabase();
  const dir = migrationsDir({
    '001_slow.sql':
      'CREATE TABLE runs (at timestamptz DEFAULT now()); INSERT INTO runs DEFAULT VALUES; SELECT pg_sleep(1);',
    '002_next.sql': 'INSERT INTO runs DEFAULT VALUES;',
  });
  const [a, b] = await Promise.all([migrate(url, { dir }), migrate(url, { dir })]);
  expect([...a, ...b].sort()).toEqual(['001_slow', '002_next']);
  const rows = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM runs');
  expect(rows[0].n).toBe(2);
});

test("migrations run without the app's statement timeout; a migration bounds itself with SET LOCAL", async () => {
  const url = await emptyDatabase();
  const dir = migrationsDir({
    '001_unbounded.sql': `DO $$ BEGIN
       IF current_setting('statement_timeout') <> '0' THEN RAISE EXCEPTION 'bounded: %', current_setting('statement_timeout'); END IF;
     END $$;`,
  });
  expect(await migrate(url, { dir })).toEqual(['001_unbounded']);
  writeFileSync(path.join(dir, '002_bounded.sql'), "SET LOCAL statement_timeout = '100ms'; SELECT pg_sleep(2);");
  await expect(migrate(url, { dir })).rejects.toThrow(/statement timeout/);
  const status = await query<{ name: string }>(url, 'SELECT name FROM pgmigrations ORDER BY name');
  expect(status.map((r) => r.name)).toEqual(['001_unbounded']);
});

test('a step that cannot run in a transaction (CREATE INDEX CONCURRENTLY) runs from a .js migration', async () => {
  const url = await emptyDatabase();
  const dir = migrationsDir({
    '001_table.sql': 'CREATE TABLE big (id int, email text);',
    '002_index.js': `exports.up = (pgm) => {
  pgm.noTransaction();
  pgm.sql('CREATE INDEX CONCURRENTLY big_email ON big (email)');
};
`,
  });
  expect(await migrate(url, { dir })).toEqual(['001_table', '002_index']);
  expect(await query(url, "SELECT 1 FROM pg_indexes WHERE indexname = 'big_email'")).toHaveLength(1);
});

test('the API refuses to start on a schema behind the code, in one line naming the command to run', async () => {
  const url = await emptyDatabase();
  // The code's migrations minus the last: a database one release behind.
  const dir = migrationsDir({});
  const files = readdirSync(MIGRATIONS_DIR).sort();
  for (const f of files.slice(0, -1)) copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  await migrate(url, { dir });
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: url,
      API_KEYS: 'k',
      LINK_SECRET: 'a-secret-long-enough-for-links',
      PORT: '0',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status).toBe(1);
  const last = files[files.length - 1].replace(/\.sql$/, '');
  expect(run.stderr.trim()).toBe(
    `parcours: the database schema is behind this code by 1 migration(s) (${last}): run \`npm run migrate\`` +
      ' (or the compose `migrate` job) first',
  );
}, 90_000);
