import pg from 'pg';

export type Db = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient;

// bigint ids (bigserial) as JS numbers: they stay far below 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * Bounds on every wait for Postgres. A database that hangs (a stalled disk, a half-open
 * connection, a lock held by a stuck session) must turn into an error the API answers with
 * 503 in seconds, not a request that hangs as long as the client waits.
 */
export interface PoolSettings {
  /** Connections; fit it to the work in flight (the worker's activity concurrency, plus a few). */
  max: number;
  /** Waiting for a connection (new, or free from the pool). */
  connectionTimeoutMs: number;
  /** One statement on the server (statement_timeout); the server cancels it. */
  statementTimeoutMs: number;
  /** Client-side bound on one query, for a server that does not answer at all. */
  queryTimeoutMs: number;
  /** A session left idle inside a transaction is ended by the server, releasing its locks. */
  idleInTransactionTimeoutMs: number;
  /** Idle pooled connections are closed after this long. */
  idleTimeoutMs: number;
}

export const DEFAULT_POOL_SETTINGS: PoolSettings = {
  max: 10,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 15_000,
  queryTimeoutMs: 17_000,
  idleInTransactionTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
};

export function createPool(connectionString: string, settings: Partial<PoolSettings> = {}): Db {
  const s = { ...DEFAULT_POOL_SETTINGS, ...settings };
  const pool = new pg.Pool({
    connectionString,
    max: s.max,
    connectionTimeoutMillis: s.connectionTimeoutMs,
    statement_timeout: s.statementTimeoutMs,
    query_timeout: s.queryTimeoutMs,
    idle_in_transaction_session_timeout: s.idleInTransactionTimeoutMs,
    idleTimeoutMillis: s.idleTimeoutMs,
  });
  // An idle connection dropped by the server (restart, forced drop) must not crash the
  // process: the pool replaces it, and the next query reports a real failure if any.
  pool.on('error', (err) => {
    if ((err as { code?: string }).code !== '57P01')
      process.stderr.write(`postgres: idle connection error: ${err.message}\n`);
  });
  return pool;
}

// Connection-level failures of Postgres, and our own timeouts on a database that hangs: the
// caller should retry later (the API answers 503), nothing was accepted.
const DATABASE_DOWN = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P03',
  '57014',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const DATABASE_DOWN_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client was closed|Cannot use a pool after calling end/;

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (e.code !== undefined && DATABASE_DOWN.has(e.code)) || DATABASE_DOWN_MESSAGE.test(e.message ?? '');
}

export async function inTransaction<T>(db: Db, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that timed out or dropped cannot roll back (waiting on it again would
    // double the time to answer): it is destroyed instead, which ends the transaction.
    broken = isDatabaseUnavailable(err) && (err as { code?: string }).code !== '57014';
    if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    client.release(broken);
  }
}
