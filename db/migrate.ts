/**
 * Schema migrations with node-pg-migrate: plain SQL files (or `.js` modules for steps that cannot run in a
 * transaction, such as `CREATE INDEX CONCURRENTLY`) in `db/migrations`, applied in name order, each in its own
 * transaction, under a lock, on a connection of their own: no statement timeout unless the migration sets one
 * (`SET LOCAL statement_timeout = '10min';`), so a long backfill is not cut by the app's 15 s bound.
 * Around the tool: applied files must not change (their SHA-256 is recorded and checked), a database migrated by the
 * former runner (`schema_migrations`) is adopted, and the API and the worker only check the version at start.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { StartupError } from '../runtime/startup';
import { sealPlainSourceSecrets } from './sources';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');
const MIGRATIONS_TABLE = 'pgmigrations';
/** Held for the whole run: a second process waits for the first instead of failing on the tool's own try-lock. */
const RUN_LOCK_KEY = 72_616_373;

export interface MigrateOptions {
  /** Where the migration files are (tests point it at a folder of their own). */
  dir?: string;
  /** How long one statement may wait for a lock the app holds before the migration fails (0: no bound). */
  lockTimeoutMs?: number;
  log?: (message: string) => void;
  /** SECRETS_KEY: sources' secrets still in plain text are encrypted with it after the migrations (db/sources.ts). */
  secretsKey?: Buffer;
}

/** A migration file's name without its extension: the tool's id for it. */
const idOf = (file: string) => file.replace(/\.(sql|js)$/, '');

export function migrationFiles(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d+[_-].*\.(sql|js)$/.test(f))
    .sort();
}

const checksum = (dir: string, file: string) =>
  createHash('sha256')
    .update(readFileSync(path.join(dir, file)))
    .digest('hex');

/** A pool, a pooled client or the migration's own client. */
type Sql = Pick<pg.ClientBase, 'query'>;

async function tableExists(db: Sql, name: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [name]);
  return rows[0].found;
}

async function appliedIds(db: Sql): Promise<string[]> {
  if (!(await tableExists(db, MIGRATIONS_TABLE))) return [];
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY name`);
  return rows.map((r) => r.name);
}

/** A database the former runner migrated lists its files in `schema_migrations`: the tool takes them as run. */
async function adoptFormerRunner(db: pg.Client): Promise<void> {
  if ((await tableExists(db, MIGRATIONS_TABLE)) || !(await tableExists(db, 'schema_migrations'))) return;
  await db.query('BEGIN');
  await db.query(
    `CREATE TABLE ${MIGRATIONS_TABLE} (id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
  );
  await db.query(
    `INSERT INTO ${MIGRATIONS_TABLE} (name, run_on)
     SELECT regexp_replace(name, '\\.sql$', ''), applied_at FROM schema_migrations ORDER BY name`,
  );
  await db.query('COMMIT');
}

/** Applied files keep their content: an edited one is refused by name (write a new migration instead). */
async function checkAndRecordChecksums(db: pg.Client, dir: string, files: string[]): Promise<void> {
  await db.query('CREATE TABLE IF NOT EXISTS schema_migration_checksums (name text PRIMARY KEY, sha256 text NOT NULL)');
  const applied = new Set(await appliedIds(db));
  const { rows } = await db.query<{ name: string; sha256: string }>(
    'SELECT name, sha256 FROM schema_migration_checksums',
  );
  const recorded = new Map(rows.map((r) => [r.name, r.sha256]));
  for (const file of files) {
    const id = idOf(file);
    if (!applied.has(id)) continue;
    const sum = checksum(dir, file);
    const before = recorded.get(id);
    if (before && before !== sum) {
      throw new Error(
        `migration ${file} was changed after it ran on this database (checksum ${sum.slice(0, 12)}, ` +
          `applied ${before.slice(0, 12)}); restore it and put the change in a new migration`,
      );
    }
    if (!before) {
      await db.query('INSERT INTO schema_migration_checksums (name, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
        id,
        sum,
      ]);
    }
  }
}

/** Applies the pending migrations; returns the ids applied. */
export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<string[]> {
  const dir = options.dir ?? MIGRATIONS_DIR;
  const files = migrationFiles(dir);
  const client = new pg.Client({
    connectionString: databaseUrl,
    // Bounds for the migration's own statements come from the migration; waiting on app locks is bounded here.
    lock_timeout: options.lockTimeoutMs ?? 0,
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [RUN_LOCK_KEY]);
    await adoptFormerRunner(client);
    await checkAndRecordChecksums(client, dir, files);
    const ran = await runner({
      dbClient: client,
      dir,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      count: Number.POSITIVE_INFINITY,
      checkOrder: true,
      singleTransaction: false,
      ignorePattern: '(\\..*|.*\\.d\\.ts|.*\\.map)',
      log: options.log ?? (() => undefined),
    });
    await checkAndRecordChecksums(client, dir, files);
    // The half of migration 035 SQL cannot do: encrypting needs the key, which never reaches the database.
    if (await tableExists(client, 'sources')) {
      await client.query('BEGIN');
      try {
        const sealed = await sealPlainSourceSecrets(client, options.secretsKey);
        await client.query('COMMIT');
        if (sealed > 0) (options.log ?? (() => undefined))(`encrypted the secrets of ${sealed} source(s)`);
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return ran.map((m) => m.name);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [RUN_LOCK_KEY]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

export interface SchemaStatus {
  /** Migrations in the code that the database has not run, in order. */
  pending: string[];
  /** Migrations the database ran that this code does not know (a newer version migrated it). */
  unknown: string[];
}

export async function schemaStatus(db: Sql, dir = MIGRATIONS_DIR): Promise<SchemaStatus> {
  const known = migrationFiles(dir).map(idOf);
  const applied = await appliedIds(db);
  const appliedSet = new Set(applied);
  const knownSet = new Set(known);
  return { pending: known.filter((id) => !appliedSet.has(id)), unknown: applied.filter((id) => !knownSet.has(id)) };
}

/** What the API and the worker check at start: one line saying what to run when the schema is behind. */
export async function requireCurrentSchema(db: Sql, dir = MIGRATIONS_DIR): Promise<void> {
  const { pending } = await schemaStatus(db, dir);
  if (pending.length === 0) return;
  const list = pending.length > 3 ? `${pending.slice(0, 3).join(', ')}, …` : pending.join(', ');
  throw new SchemaBehind(
    `the database schema is behind this code by ${pending.length} migration(s) (${list}): run \`npm run migrate\`` +
      ' (or the compose `migrate` job) first',
  );
}

/** A start-up failure the operator fixes by running the migrations: printed as its one line. */
export class SchemaBehind extends StartupError {}
