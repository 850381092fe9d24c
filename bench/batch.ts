/**
 * Batches through `POST /v1/batch`, each next to its baseline measured in the same run:
 * - non-triggering events (nothing to start): events/s answered by the API, next to a bare
 *   multi-row INSERT of the same rows (contacts, then events) with pg, same batches, same
 *   concurrency;
 * - journey-starting events: events/s until every journey runs in Temporal (its start
 *   answered and recorded), next to the bare Temporal client's starts of the same workflow.
 * It runs last: the journeys it starts are never run (no worker polls after it), and would
 * otherwise be a backlog for the parts that run a worker.
 * BENCH_BATCH_EVENTS, BENCH_BATCH_STARTS (0 skips each), BENCH_BATCH_SIZE, BENCH_BATCH_CLIENTS.
 */
import { performance } from 'node:perf_hooks';
import type { StoredFlow } from '../db/flows';
import type { Db } from '../db/pool';
import { DEFAULT_ROUTING_CONCURRENCY } from '../routing/route-many';
import { abandonedCart, cartProperties } from '../test/fixtures/flows';
import type { ApiClient } from './http';
import { runBounded } from './load';
import { intFromEnv } from './settings';
import type { Stack } from './stack';
import { bareStarts, flowDefinition, perSecond, type Measurement } from './starts';

/**
 * The abandoned cart on its own trigger: the flows other parts leave live (the short copy, the
 * fault section's) must not start journeys here, so one event is one start on both sides.
 */
const BATCH_FLOW_ID = 'batch-cart';
const BATCH_TRIGGER = 'Batch Checkout Started';

export interface BatchSettings {
  /** Non-triggering events sent through /v1/batch (and inserted bare). */
  events: number;
  /** Journey-starting events sent through /v1/batch (and started bare). */
  starts: number;
  batchSize: number;
  clients: number;
}

export function batchSettingsFromEnv(): BatchSettings {
  return {
    events: intFromEnv('BENCH_BATCH_EVENTS', 4000, 0),
    starts: intFromEnv('BENCH_BATCH_STARTS', 1000, 0),
    batchSize: intFromEnv('BENCH_BATCH_SIZE', 100),
    clients: intFromEnv('BENCH_BATCH_CLIENTS', 4),
  };
}

interface Item {
  type: 'track';
  userId: string;
  event: string;
  messageId: string;
  timestamp: string;
  properties: Record<string, unknown>;
}

/** Events a shop's server sends most: product views, ten contacts per batch. */
function viewItems(prefix: string, count: number, batchSize: number): Item[] {
  const perContact = Math.max(1, Math.floor(batchSize / 10));
  return Array.from({ length: count }, (_, i) => ({
    type: 'track',
    userId: `${prefix}-${Math.floor(i / perContact)}`,
    event: 'Product Viewed',
    messageId: `${prefix}-view-${i}`,
    timestamp: new Date().toISOString(),
    properties: {
      product_id: `p${i % 50}`,
      name: 'Linen shirt',
      price: 59.5,
      url: `https://shop.example.com/p/${i % 50}`,
    },
  }));
}

function checkoutItems(prefix: string, count: number): Item[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'track',
    userId: `${prefix}-${i}`,
    event: BATCH_TRIGGER,
    messageId: `${prefix}-checkout-${i}`,
    timestamp: new Date().toISOString(),
    properties: cartProperties,
  }));
}

const chunks = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** null when the batch was taken whole, else why not. */
async function postBatch(api: ApiClient, batch: Item[]): Promise<string | null> {
  try {
    const res = await api.request('POST', '/v1/batch', { batch });
    const body = res.body as { accepted?: unknown; rejected?: unknown; errors?: unknown[] } | undefined;
    const rejected = typeof body?.rejected === 'number' ? body.rejected : (body?.errors?.length ?? 0);
    if (res.status >= 200 && res.status < 300 && rejected === 0) return null;
    return (
      `batch of ${batch.length} from ${batch[0].messageId}: HTTP ${res.status}: ` +
      `${JSON.stringify(res.body).slice(0, 300)}`
    );
  } catch (err) {
    return `batch from ${batch[0].messageId}: ${(err as Error).message}`;
  }
}

async function apiBatches(api: ApiClient, label: string, items: Item[], s: BatchSettings): Promise<Measurement> {
  const batches = chunks(items, s.batchSize);
  const run = await runBounded(batches.length, s.clients, (i) => postBatch(api, batches[i]));
  return {
    label,
    count: items.length,
    seconds: run.seconds,
    latenciesMs: run.latenciesMs,
    failures: run.results.filter((f) => f !== null),
  };
}

/** The same rows as the API stores, one transaction per batch: contacts, then events. */
async function bareInsert(db: Db, items: Item[], s: BatchSettings): Promise<Measurement> {
  const batches = chunks(items, s.batchSize);
  const run = await runBounded(batches.length, s.clients, async (i) => {
    const batch = batches[i];
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      const contacts = [...new Set(batch.map((e) => e.userId))];
      await client.query(`INSERT INTO contacts (id) SELECT unnest($1::text[]) ON CONFLICT (id) DO NOTHING`, [contacts]);
      const values = batch
        .map(
          (_, j) =>
            `($${j * 6 + 1}, 'track', $${j * 6 + 2}, $${j * 6 + 3}, $${j * 6 + 4}, $${j * 6 + 5}, $${j * 6 + 6}, ` +
            `now())`,
        )
        .join(', ');
      // Stored as routed: the router loop must not route the baseline's rows meanwhile.
      await client.query(
        `INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, routed_at) ` +
          `VALUES ${values} ON CONFLICT (message_id) DO NOTHING`,
        batch.flatMap((e) => [e.messageId, e.userId, e.event, e.properties, {}, e.timestamp]),
      );
      await client.query('COMMIT');
      return null;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      return `bare batch ${i}: ${(err as Error).message}`;
    } finally {
      client.release();
    }
  });
  return {
    label: 'bare multi-row INSERT',
    count: items.length,
    seconds: run.seconds,
    latenciesMs: run.latenciesMs,
    failures: run.results.filter((f) => f !== null),
  };
}

const count = async (db: Db, sql: string, params: unknown[]): Promise<number> =>
  (await db.query<{ n: number }>(sql, params)).rows[0].n;

/** Polls until `done` or the deadline; returns the seconds from `since`, or undefined on timeout. */
async function secondsUntil(
  since: number,
  done: () => Promise<boolean>,
  deadlineMs: number,
): Promise<number | undefined> {
  const deadline = Date.now() + deadlineMs;
  while (!(await done())) {
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return (performance.now() - since) / 1000;
}

export interface Output {
  print(text?: string): void;
  progress(text: string): void;
}

const rate = (m: Measurement) => perSecond(m).toFixed(0).padStart(8);

/** Both sides' measurements of one figure: halves in the order api, bare, bare, api. */
interface Paired {
  api: Measurement;
  bare: Measurement;
}

/**
 * The shared machine's load drifts during a run: each side is measured in two halves, api
 * then bare then bare then api, so a slow spell falls on both. Counts and seconds are summed.
 */
async function abba(
  measureApi: (half: number) => Promise<Measurement>,
  measureBare: (half: number) => Promise<Measurement>,
): Promise<Paired> {
  const api1 = await measureApi(0);
  const bare1 = await measureBare(0);
  const bare2 = await measureBare(1);
  const api2 = await measureApi(1);
  const sum = (a: Measurement, b: Measurement): Measurement => ({
    ...a,
    count: a.count + b.count,
    seconds: a.seconds + b.seconds,
    latenciesMs: [...a.latenciesMs, ...b.latenciesMs],
    failures: [...a.failures, ...b.failures],
  });
  return { api: sum(api1, api2), bare: sum(bare1, bare2) };
}

/** Prints the batch figures; returns how many batches, rows or starts failed. */
export async function batchSection(stack: Stack, s: BatchSettings, out: Output): Promise<number> {
  const db = stack.database.db;
  let failures = 0;
  out.print();
  out.print(
    `Batches through POST /v1/batch (${s.batchSize} events each, ${s.clients} clients at once; each side measured ` +
      `in two halves, api bare bare api)`,
  );
  out.print('                                                     events/s    events   seconds   ratio');
  const line = (label: string, m: Measurement, ratio?: number) =>
    out.print(
      `  ${label.padEnd(50)} ${rate(m)} ${String(m.count).padStart(9)} ` +
        `${m.seconds.toFixed(2).padStart(9)}${ratio === undefined ? '' : `   ${ratio.toFixed(2).padStart(5)}`}`,
    );
  const failed = (m: Measurement) => {
    failures += m.failures.length;
    for (const f of m.failures.slice(0, 5)) out.print(`    FAILED: ${f}`);
  };
  const half = (total: number, i: number) =>
    i === 0
      ? Math.ceil(total / 2 / s.batchSize) * s.batchSize
      : total - Math.ceil(total / 2 / s.batchSize) * s.batchSize;

  if (s.events > 0) {
    // Warm-up on both paths: connections, JIT, the statements' plans.
    const unrouted = (prefix: string) =>
      count(db, 'SELECT count(*)::int AS n FROM events WHERE routed_at IS NULL AND message_id LIKE $1', [
        `${prefix}-%`,
      ]);
    await apiBatches(stack.api, 'warm', viewItems('warm-view', Math.min(s.events, 5 * s.batchSize), s.batchSize), s);
    // The warm-up's background routing must not fall on the first measured half (or the baseline's warm-up).
    await secondsUntil(performance.now(), async () => (await unrouted('warm-view')) === 0, 120_000);
    await bareInsert(db, viewItems('warm-bare', Math.min(s.events, 5 * s.batchSize), s.batchSize), s);
    out.progress(`measuring: ${s.events} product views through /v1/batch and the same rows inserted bare`);
    const routedAfter: number[] = [];
    const { api, bare } = await abba(
      async (i) => {
        const started = performance.now();
        const m = await apiBatches(stack.api, 'api', viewItems(`view${i}`, half(s.events, i), s.batchSize), s);
        // Routed before the other side runs: its background routing must not slow the baseline.
        const routed = await secondsUntil(started, async () => (await unrouted(`view${i}`)) === 0, 120_000);
        if (routed === undefined) m.failures.push(`${await unrouted(`view${i}`)} events not routed after 120 s`);
        else routedAfter.push(routed);
        return m;
      },
      (i) => bareInsert(db, viewItems(`bare-view${i}`, half(s.events, i), s.batchSize), s),
    );
    line('api /v1/batch, non-triggering events (stored)', api);
    line('bare multi-row INSERT of the same rows', bare);
    line('ratio api/bare (goal >= 0.5)', api, perSecond(api) / perSecond(bare));
    const routedS = routedAfter.reduce((a, b) => a + b, 0);
    out.print(
      `    all routed (no journey to start or signal) ${routedS.toFixed(2)} s after their first batch was sent ` +
        `(${(s.events / routedS).toFixed(0)}/s)`,
    );
    failed(api);
    failed(bare);
  }

  if (s.starts > 0) {
    const stored = (await stack.api.expect([200, 201], 'PUT', `/v1/flows/${BATCH_FLOW_ID}`, {
      ...abandonedCart,
      trigger: { event: BATCH_TRIGGER },
    })) as StoredFlow;
    const flow = flowDefinition(stored);
    const running = (prefix: string) =>
      count(
        db,
        "SELECT count(*)::int AS n FROM journeys WHERE flow_id = $1 AND status = 'running' AND contact_id LIKE $2",
        [BATCH_FLOW_ID, `${prefix}-%`],
      );
    const apiStarts = async (prefix: string, n: number): Promise<Measurement & { answeredS: number }> => {
      const started = performance.now();
      const answered = await apiBatches(stack.api, 'api', checkoutItems(prefix, n), s);
      const allRunning = await secondsUntil(started, async () => (await running(prefix)) === n, 300_000);
      const m = { ...answered, seconds: allRunning ?? Number.POSITIVE_INFINITY, answeredS: answered.seconds };
      if (allRunning === undefined) m.failures.push(`${n - (await running(prefix))} journeys not running after 300 s`);
      return m;
    };
    const warm = Math.min(s.starts, 2 * s.batchSize);
    await apiStarts('warm-bstart', warm);
    await bareStarts(stack.env.client.workflow, flow, {
      prefix: 'warm-bbare',
      count: warm,
      concurrency: DEFAULT_ROUTING_CONCURRENCY,
    });

    out.progress(
      `measuring: ${s.starts} checkouts through /v1/batch until their journeys run, and ${s.starts} bare starts, ` +
        `${DEFAULT_ROUTING_CONCURRENCY} in flight`,
    );
    let answeredS = 0;
    const { api, bare } = await abba(
      async (i) => {
        const m = await apiStarts(`bstart${i}`, half(s.starts, i));
        answeredS += m.answeredS;
        return m;
      },
      (i) =>
        bareStarts(stack.env.client.workflow, flow, {
          prefix: `bbare${i}`,
          count: half(s.starts, i),
          concurrency: DEFAULT_ROUTING_CONCURRENCY,
        }),
    );
    line('api /v1/batch, journey-starting events (running)', api);
    line(`bare client workflow.start, ${DEFAULT_ROUTING_CONCURRENCY} in flight`, bare);
    line('ratio api/bare (goal >= 0.8)', api, perSecond(api) / perSecond(bare));
    out.print(
      `    the ${Math.ceil(s.starts / s.batchSize)} batches were answered (stored) in ${answeredS.toFixed(2)} s; ` +
        `counted until every journey was running`,
    );
    failed(api);
    failed(bare);
  }
  return failures;
}
