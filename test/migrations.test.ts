/**
 * Migrations as their own step: node-pg-migrate under a lock, on a connection without the app's timeouts, applied
 * files checked by checksum, a database of the former runner adopted, and API/worker refusing a schema behind.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openSecret, SecretUnreadable, secretLabel, type StoredSourceConfig } from '../connectors/source-secrets';
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

test('sources saved with plain secrets: the URL token becomes its SHA-256, the HMAC secret and bearer token are encrypted with SECRETS_KEY (refused without it)', async () => {
  const url = await emptyDatabase();
  // A database of the release before: sources kept their secrets in plain text.
  const dir = migrationsDir({});
  // Found by name: the lead may renumber it when merging.
  const secretsMigration = readdirSync(MIGRATIONS_DIR).find((f) => /^\d+_source_secrets\.sql$/.test(f))!;
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < secretsMigration))
    copyFileSync(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
  await migrate(url, { dir });
  const token = 'plain-url-token-0123456789abcdef';
  const secret = 'plain-hmac-secret-0123456789';
  const bearer = 'plain-bearer-token-eventbrite';
  const mapping = { email: 'email', event: "'Order Completed'" };
  const plain = [
    { id: 'eb', config: { name: 'Eventbrite', auth: { type: 'token', token }, mapping } },
    {
      id: 'tf',
      config: {
        name: 'Typeform',
        auth: { type: 'hmac', header: 'Typeform-Signature', encoding: 'base64', prefix: 'sha256=', secret },
        fetch: {
          url: 'api_url',
          urlPrefix: 'https://api.example/',
          bearerToken: bearer,
          timeoutMs: 5000,
          maxBytes: 1024,
        },
        mapping,
      },
    },
  ];
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of plain) await c.query('INSERT INTO sources (id, config) VALUES ($1, $2)', [s.id, s.config]);
    const stored = async () =>
      Object.fromEntries(
        (await c.query<{ id: string; config: StoredSourceConfig }>('SELECT id, config FROM sources')).rows.map((r) => [
          r.id,
          r.config,
        ]),
      );

    // Without the key the HMAC secret cannot be encrypted: migrate says what to do, and leaves it for the next run.
    await expect(migrate(url)).rejects.toThrow(
      /1 source\(s\) still hold an HMAC secret or bearer token in plain text \(tf\): set SECRETS_KEY/,
    );
    expect((await stored()).eb.auth).toEqual({
      type: 'token',
      tokenSha256: createHash('sha256').update(token).digest('hex'),
    });

    const key = randomBytes(32);
    expect(await migrate(url, { secretsKey: key })).toEqual([]);
    const after = await stored();
    const text = JSON.stringify(after);
    for (const secretText of [token, secret, bearer]) expect(text).not.toContain(secretText);
    const tf = after.tf;
    if (tf.auth.type !== 'hmac') throw new Error('tf is an hmac source');
    const sealed = tf.auth.secretSealed;
    expect(sealed).toMatch(/^v1:/);
    expect(openSecret(key, sealed, secretLabel('tf', 'auth.secret'))).toBe(secret);
    expect(openSecret(key, tf.fetch?.bearerTokenSealed, secretLabel('tf', 'fetch.bearerToken'))).toBe(bearer);
    // Another key does not open it, nor does the value moved to another source or field.
    expect(() => openSecret(randomBytes(32), sealed, secretLabel('tf', 'auth.secret'))).toThrow(SecretUnreadable);
    expect(() => openSecret(key, sealed, secretLabel('eb', 'auth.secret'))).toThrow(SecretUnreadable);
    // Nothing left to do: a later run needs no key.
    expect(await migrate(url)).toEqual([]);
  } finally {
    await c.end();
  }
});
