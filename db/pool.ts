import pg from 'pg';
import { DATABASE_HUNG, DatabaseBreaker } from './breaker';

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
  guardPool(pool, new Prober(connectionString));
  return pool;
}

/** One round trip to Postgres, for health checks: resolves when the database answers. */
export async function ping(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}

const breakers = new WeakMap<Db, DatabaseBreaker>();

/** The breaker of a pool made by createPool: open while its Postgres is known to be hung. */
export function databaseBreaker(db: Db): DatabaseBreaker | undefined {
  return breakers.get(db);
}

/**
 * `SELECT 1` within a deadline on a connection of its own, outside the pool (which may be full
 * of stuck calls). The connection is kept between probes: a query on a live backend costs
 * microseconds where a new connection costs a fork and an authentication, slow enough on a
 * starved machine to look like a hang. One that failed or timed out is dropped; the next probe
 * connects afresh, also within the deadline.
 */
interface ProbeConnection {
  client: pg.Client;
  ready: Promise<unknown>;
  usable: boolean;
}

class Prober {
  private kept?: ProbeConnection;

  constructor(private readonly connectionString: string) {}

  async check(deadlineMs: number): Promise<void> {
    const client = this.kept ?? this.connect(deadlineMs);
    this.kept = undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    const answer = client.ready.then(() => client.client.query('SELECT 1'));
    // Past the deadline its failure has no one to tell, and must not be an unhandled rejection.
    answer.catch(() => undefined);
    try {
      await Promise.race([answer, deadline]);
      if (client.usable) this.kept = client;
    } catch (err) {
      // Not awaited: a hung server never acknowledges the goodbye.
      client.client.end().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.kept?.client.end().catch(() => undefined);
    this.kept = undefined;
  }

  private connect(deadlineMs: number): ProbeConnection {
    const client = new pg.Client({
      connectionString: this.connectionString,
      connectionTimeoutMillis: deadlineMs,
      query_timeout: deadlineMs,
    });
    const handle: ProbeConnection = { client, ready: client.connect(), usable: true };
    // An error or an end while kept (a server restart) must not crash the process, nor fail the next probe.
    const unusable = () => {
      handle.usable = false;
      if (this.kept === handle) this.kept = undefined;
    };
    client.on('error', unusable);
    client.on('end', unusable);
    return handle;
  }
}

type Query = (...args: unknown[]) => Promise<unknown>;
const guardedClients = new WeakSet<pg.PoolClient>();
const isCallbackCall = (args: unknown[]) =>
  typeof args[args.length - 1] === 'function' || typeof (args[0] as { submit?: unknown })?.submit === 'function';

/**
 * Every promise-style call through the pool goes through the breaker: `connect()`, the
 * queries of the clients it hands out, and `query()` (rebuilt on those two, so that a query
 * still waiting for a connection when the breaker opens is never sent later, after its caller
 * was told 503). Callback and streaming calls (pg-pool's own internals) pass through untouched.
 */
function guardPool(pool: pg.Pool, prober: Prober): void {
  const breaker = new DatabaseBreaker((deadlineMs) => prober.check(deadlineMs));
  breakers.set(pool, breaker);
  // The pool has no logger (as its idle-connection errors above): one line each way, for operators.
  let openedAt = 0;
  breaker.on('open', (abandoned: number) => {
    openedAt = Date.now();
    process.stderr.write(
      `postgres: not answering (a probe got no answer within 1 s): calls fail at once until it answers; ${abandoned} in flight ended\n`,
    );
  });
  breaker.on('close', () =>
    process.stderr.write(`postgres: answers again after ${((Date.now() - openedAt) / 1000).toFixed(1)} s\n`),
  );
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  const guardedConnect = (...args: unknown[]): unknown => {
    if (args.length > 0) return connect(...args);
    return breaker
      .guard(
        () => connect() as Promise<pg.PoolClient>,
        // A connection that arrives after its caller gave up goes straight back.
        (late) =>
          late.then(
            (client) => client.release(),
            () => undefined,
          ),
      )
      .then((client) => guardClient(client, breaker));
  };
  pool.connect = guardedConnect as typeof pool.connect;

  const query = pool.query.bind(pool) as Query;
  const guardedQuery: Query = async (...args) => {
    if (isCallbackCall(args)) return query(...args);
    const client = (await guardedConnect()) as pg.PoolClient;
    let failure: unknown;
    try {
      return await (client.query as Query)(...args);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // As pg-pool does: a client whose query failed is not reused.
      client.release(failure === undefined ? undefined : true);
    }
  };
  pool.query = guardedQuery as typeof pool.query;

  const end = pool.end.bind(pool);
  pool.end = ((...args: Parameters<typeof end>) => {
    breaker.stop();
    prober.close();
    return end(...args);
  }) as typeof pool.end;
}

/** Clients with a call still stuck on them: they must not serve anyone else, so their release destroys them. */
const stuckClients = new WeakSet<pg.PoolClient>();

function guardClient(client: pg.PoolClient, breaker: DatabaseBreaker): pg.PoolClient {
  // pg-pool gives each acquisition its own `release`.
  const release = client.release.bind(client);
  client.release = (err?: Error | boolean) => release(stuckClients.has(client) ? true : err);
  if (guardedClients.has(client)) return client;
  guardedClients.add(client);
  const query = client.query.bind(client) as Query;
  client.query = ((...args: unknown[]) => {
    if (isCallbackCall(args)) return query(...args);
    return breaker.guard(
      () => query(...args),
      () => stuckClients.add(client),
    );
  }) as typeof client.query;
  return client;
}

// Connection-level failures of Postgres, and our own timeouts on a database that hangs: the
// caller should retry later (the API answers 503), nothing was accepted.
const DATABASE_DOWN = new Set([
  DATABASE_HUNG,
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

/**
 * Postgres refused the data itself (SQLSTATE class 22, "data exception": a character it
 * cannot store, a date out of its range; class 54: too large or complex). Input checks at the
 * edge catch these first with a path; this is the net behind them, so bad data is a 400, never a 500.
 */
export function isRefusedData(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
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

/**
 * `work` inside a savepoint of the transaction `tx`: when it fails, what it wrote is undone and `failed` answers
 * instead, and the transaction goes on (one call of a batch refused, the others kept). A connection that is gone
 * cannot roll back: its error is rethrown, and the whole transaction ends with it.
 */
export async function inSavepoint<T>(
  tx: Queryable,
  work: () => Promise<T>,
  failed: (err: unknown) => T | Promise<T>,
): Promise<T> {
  await tx.query('SAVEPOINT call');
  try {
    const result = await work();
    await tx.query('RELEASE SAVEPOINT call');
    return result;
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw err;
    await tx.query('ROLLBACK TO SAVEPOINT call');
    return failed(err);
  }
}
