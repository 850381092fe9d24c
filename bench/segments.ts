/**
 * `npm run bench:segments` (tsx bench/segments.ts): what live segments cost.
 *
 * 1. Build: a new segment ("spent at least 500 over Order Completed in the last 365 days")
 *    over BENCH_SEGMENT_CONTACTS contacts (100,000) and BENCH_SEGMENT_EVENTS events
 *    (1,000,000), as the API builds it (set-based statements each inserting a chunk's members:
 * BENCH_SEGMENT_CHUNK contacts in the first, 50,000, then sized to about 5 s), next to one hand-written SQL statement
 * writing the
 *    same membership rows on the same data (the fair baseline: both sides write the rows), and,
 *    for reference, the hand-written query only counting them and the compiled statement alone
 *    counting. Printed: seconds per 100,000 contacts and the ratios (goal: at most 2x).
 *    BENCH_SEGMENT_BUILD=0 skips it.
 * 2. Incremental upkeep: BENCH_SEGMENT_INGEST `POST /v1/track` calls over real HTTP
 *    (BENCH_CONCURRENCY in flight, 8), in BENCH_SEGMENT_ROUNDS rounds (5) alternating without
 *    and with 20 live segments, built over the base first, after an untimed warm-up on each side
 *    (the upkeep statements prepared on every pooled connection); each batch is timed until the
 *    entries and exits it stored are routed and the segment clocks it needs are armed. Two
 *    mixes, each printed: "adversarial" (every event an Order Completed, and all 20 segments
 *    depend on it: windows, sums, first/last, lapsed tiers that flip at every order, a segment
 *    on a segment) and "realistic" (20 segments over orders, email engagement, product views,
 *    traits, lists and consent; most events are page and product views most segments do not
 *    depend on). Printed: the extra cost per event as a share of the ingest cost without
 *    (goal: at most 25 %). BENCH_SEGMENT_MIX=adversarial|realistic runs one, =none neither.
 *    The clocks the builds would arm (as the API's build does) are stored as armed before the
 *    rounds, so the measure is the steady upkeep of a running system, where a new event seldom
 *    needs a contact's clock earlier; BENCH_SEGMENT_PREARM=0 leaves every contact without a
 *    clock, so that the first event of each arms one (a clock workflow started per contact).
 * The stack is bench/stack.ts: a Temporal dev server, a fresh database, the API on 127.0.0.1.
 */
import { segmentDependencies, timeDirection } from '../flows/segment-deps';
import { DEFAULT_BUILD, runBuild } from '../worker/segment-build-activities';
import { flipsInRangeSql, previewSql } from '../audiences/segment-sql';
import { insertSegment, storeClocksToArm, type Segment } from '../db/segments';
import type { Condition } from '../flows/schema';
import { createLogger } from '../runtime/logger';
import { routePending } from '../routing/router-loop';
import { clocksArmedInProcess } from '../routing/segment-clock-arming';
import { LIVE_SEGMENTS_CACHE_MS } from '../routing/segment-upkeep';
import { runBounded } from './load';
import { intFromEnv } from './settings';
import { startStack, type Stack } from './stack';

const progress = (text: string) => process.stderr.write(`· ${text}\n`);
const print = (text = '') => process.stdout.write(`${text}\n`);

const SPEND: Condition = {
  event: 'Order Completed',
  within: '365 days',
  sum: { property: 'total', op: 'gte', value: 500 },
};
const HAND_MEMBERS = `SELECT contact_id FROM events
  WHERE type = 'track' AND name = 'Order Completed' AND occurred_at >= now() - interval '365 days'
  GROUP BY contact_id HAVING sum((properties->>'total')::numeric) >= 500`;
const HAND_COUNT = `SELECT count(*)::int AS n FROM (${HAND_MEMBERS}) members`;
/** What a person would write to store the same membership rows as the build (one statement, no chunks, no progress). */
const HAND_INSERT = (segmentId: string) => ({
  text:
    `INSERT INTO segment_members (segment_id, contact_id, seq, entered_at, source) SELECT $1, contact_id, 1, ` +
    `now(), 'build' FROM (${HAND_MEMBERS}) members`,
  values: [segmentId],
});

async function seed(stack: Stack, contacts: number, events: number): Promise<void> {
  const db = stack.database.db;
  progress(`seeding ${contacts} contacts and ${events} events`);
  await db.query(
    `INSERT INTO contacts (id, email, traits) SELECT 'c' || lpad(i::text, 7, '0'), 'c' || i || '@example.com', ` +
      `jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END, 'signed_up', (now() - ` +
      `make_interval(days => i % 700))::text) FROM generate_series(1, $1) i`,
    [contacts],
  );
  // Orders spread over two years, totals 5-300; a tenth of the events are email opens.
  const batch = 50_000;
  for (let from = 1; from <= events; from += batch) {
    await db.query(
      `INSERT INTO events (message_id, type, contact_id, name, properties, occurred_at, routed_at)
       SELECT 'seed-' || i, 'track', 'c' || lpad((1 + (i * 7919) % $3)::text, 7, '0'),
              CASE WHEN i % 10 = 0 THEN 'Email Opened' ELSE 'Order Completed' END,
              jsonb_build_object('total', 5 + (i * 31) % 296),
              now() - make_interval(mins => ((i * 104729) % (730 * 1440))::int), now()
       FROM generate_series($1::bigint, $2::bigint) i`,
      [from, Math.min(events, from + batch - 1), contacts],
    );
  }
  await db.query('ANALYZE contacts');
  await db.query('ANALYZE events');
}

async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

async function newSegment(stack: Stack, id: string, condition: Condition, total: number): Promise<Segment> {
  const segment = await insertSegment(stack.database.db, {
    id,
    name: id,
    condition,
    dependencies: segmentDependencies(condition),
    total,
  });
  if (!segment) throw new Error(`segment ${id} exists`);
  return segment;
}

async function buildSection(stack: Stack, contacts: number): Promise<void> {
  const db = stack.database.db;
  const deps = { db, log: createLogger('silent') };
  const chunk = intFromEnv('BENCH_SEGMENT_CHUNK', DEFAULT_BUILD.chunk);
  const members = async (segmentId: string) =>
    (
      await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND exited_at IS NULL',
        [segmentId],
      )
    ).rows[0].n;
  // Warm the caches once on each side, then measure each twice and keep the better run.
  await db.query(HAND_COUNT);
  const hand: number[] = [];
  const handCounting: number[] = [];
  const built: number[] = [];
  const compiledAlone: number[] = [];
  let handCount = 0;
  let builtCount = 0;
  for (let run = 0; run < 2; run += 1) {
    const count = previewSql(SPEND, new Date(), 1).count;
    compiledAlone.push((await timed(() => db.query(count.text, count.values))).seconds);
    handCounting.push((await timed(() => db.query(HAND_COUNT))).seconds);
    const insert = HAND_INSERT(`hand-${run}`);
    hand.push((await timed(() => db.query(insert.text, insert.values))).seconds);
    handCount = await members(`hand-${run}`);
    await db.query('DELETE FROM segment_members WHERE segment_id = $1', [`hand-${run}`]);
    const segment = await newSegment(stack, `spend-${run}`, SPEND, contacts);
    built.push((await timed(() => runBuild(deps, segment, { chunk, armClocks: false }))).seconds);
    builtCount = await members(segment.id);
    const status = (
      await db.query<{ status: string; build_error: string | null }>(
        'SELECT status, build_error FROM segments WHERE id = $1',
        [segment.id],
      )
    ).rows[0];
    if (status.status !== 'ready') throw new Error(`build failed: ${status.build_error}`);
    await db.query('DELETE FROM segment_members WHERE segment_id = $1', [segment.id]);
  }
  const per100k = (s: number) => (s * 100_000) / contacts;
  const best = (xs: number[]) => Math.min(...xs);
  print(
    `segment build "sum(total) >= 500 over Order Completed, last 365 days": ${per100k(best(built)).toFixed(2)} s ` +
      `per 100,000 contacts (${builtCount} members written, first chunk ${chunk} contacts)`,
  );
  print(
    `hand-written SQL writing the same membership rows (one INSERT ... SELECT): ${per100k(best(hand)).toFixed(2)} ` +
      `s per 100,000 contacts (${handCount} members)`,
  );
  print(
    `ratio build/hand-written: ${(best(built) / best(hand)).toFixed(2)} (goal <= 2)` +
      (builtCount === handCount ? '' : '  MEMBERS DIFFER'),
  );
  print(
    `  for reference, counting without writing: hand-written ${per100k(best(handCounting)).toFixed(2)} s, the ` +
      `compiled statement ${per100k(best(compiledAlone)).toFixed(2)} s per 100,000 contacts (ratio ` +
      `${(best(compiledAlone) / best(handCounting)).toFixed(2)})`,
  );
  await db.query("DELETE FROM segments WHERE id LIKE 'spend-%'");
}

/** 20 segments depending on Order Completed, of every shape the upkeep evaluates. */
function adversarialSegments(): [string, Condition][] {
  const list: [string, Condition][] = [];
  for (const [i, value] of [100, 250, 500, 1000, 2000].entries())
    list.push([
      `spend-${i}`,
      { event: 'Order Completed', within: '365 days', sum: { property: 'total', op: 'gte', value } },
    ]);
  for (const [i, n] of [1, 2, 3, 5, 10].entries())
    list.push([`orders-${i}`, { event: 'Order Completed', within: '90 days', count: { op: 'gte', value: n } }]);
  for (const [i, days] of [30, 60, 90, 180].entries())
    list.push([`lapsed-${i}`, { event: 'Order Completed', last: { op: 'more_than_ago', value: `${days} days` } }]);
  list.push(['big-basket', { event: 'Order Completed', max: { property: 'total', op: 'gte', value: 250 } }]);
  list.push(['small-only', { event: 'Order Completed', max: { property: 'total', op: 'lt', value: 50 } }]);
  list.push(['new-buyer', { event: 'Order Completed', first: { op: 'within_last', value: '30 days' } }]);
  list.push([
    'pro-buyer',
    {
      all: [
        { profile: { property: 'plan', op: 'equals', value: 'pro' } },
        { event: 'Order Completed', within: '30 days' },
      ],
    },
  ]);
  list.push([
    'never-opened-buyer',
    { all: [{ event: 'Order Completed' }, { not: { event: 'Email Opened', within: '180 days' } }] },
  ]);
  list.push([
    'vip-pro',
    { all: [{ segment: 'spend-2' }, { profile: { property: 'plan', op: 'equals', value: 'pro' } }] },
  ]);
  return list;
}

/**
 * 20 segments as a shop has them: a few on orders, some on email engagement, product views,
 * traits, lists and consent; each event concerns a few of them at most.
 */
function realisticSegments(): [string, Condition][] {
  return [
    [
      'r-spend-500',
      { event: 'Order Completed', within: '365 days', sum: { property: 'total', op: 'gte', value: 500 } },
    ],
    ['r-repeat', { event: 'Order Completed', within: '90 days', count: { op: 'gte', value: 3 } }],
    ['r-lapsed', { event: 'Order Completed', last: { op: 'more_than_ago', value: '90 days' } }],
    ['r-vip-pro', { all: [{ segment: 'r-spend-500' }, { profile: { property: 'plan', op: 'equals', value: 'pro' } }] }],
    ['r-engaged', { event: 'Email Opened', within: '30 days' }],
    ['r-unengaged', { event: 'Email Opened', last: { op: 'more_than_ago', value: '90 days' } }],
    ['r-clicker', { event: 'Email Clicked', within: '60 days', count: { op: 'gte', value: 2 } }],
    ['r-browser', { event: 'Product Viewed', within: '7 days', count: { op: 'gte', value: 5 } }],
    ['r-cart', { event: 'Checkout Started', within: '3 days' }],
    ['r-reviewer', { event: 'Review Written' }],
    ['r-wishlist', { event: 'Wishlist Added', within: '30 days' }],
    ['r-subscriber', { event: 'Subscription Started' }],
    ['r-pro', { profile: { property: 'plan', op: 'equals', value: 'pro' } }],
    ['r-fr', { profile: { property: 'country', op: 'equals', value: 'FR' } }],
    ['r-new', { profile: { property: 'signed_up', op: 'within_last', value: '30 days' } }],
    ['r-newsletter', { list: 'newsletter' }],
    ['r-sms-ok', { consent: { channel: 'sms', status: 'subscribed' } }],
    ['r-email-ok', { consent: { channel: 'email', status: 'subscribed' } }],
    ['r-support', { event: 'Ticket Opened', within: '14 days' }],
    ['r-app', { event: 'App Installed' }],
  ];
}

interface Mix {
  name: string;
  segments: [string, Condition][];
  /** The i-th ingested call. */
  event(i: number): { event: string; properties: Record<string, unknown> };
}

const MIXES: Mix[] = [
  {
    name: 'realistic: 60 % Page Viewed, 20 % Product Viewed, 10 % Email Opened, 5 % Order Completed, 5 % Email Clicked',
    segments: realisticSegments(),
    event: (i) => {
      const slot = i % 20;
      if (slot < 12) return { event: 'Page Viewed', properties: { path: `/p/${i % 50}` } };
      if (slot < 16) return { event: 'Product Viewed', properties: { sku: `sku-${i % 80}` } };
      if (slot < 18) return { event: 'Email Opened', properties: { campaign: 'weekly' } };
      if (slot < 19) return { event: 'Order Completed', properties: { total: 5 + (i % 300) } };
      return { event: 'Email Clicked', properties: { campaign: 'weekly' } };
    },
  },
  {
    name: 'adversarial: every event an Order Completed, all 20 segments depending on it',
    segments: adversarialSegments(),
    event: (i) => ({ event: 'Order Completed', properties: { total: 5 + (i % 300) } }),
  },
];

/** Calls from distinct contacts (`offset` moves on between batches), each with its history. */
async function ingest(
  stack: Stack,
  mix: Mix,
  prefix: string,
  count: number,
  contacts: number,
  concurrency: number,
  offset = 0,
): Promise<number> {
  const result = await runBounded(count, concurrency, async (i) => {
    const userId = `c${String(1 + (((offset + i) * 104_723) % contacts)).padStart(7, '0')}`;
    await stack.api.expect(200, 'POST', '/v1/track', { userId, ...mix.event(offset + i), messageId: `${prefix}-${i}` });
  });
  return result.seconds;
}

/**
 * Routes what is still unrouted (the entries and exits the upkeep stored) right away, as the
 * router loop does, without its pause between passes, and arms the clocks it stored (a router
 * loop pass does): both are part of the upkeep's cost.
 */
async function drained(stack: Stack): Promise<void> {
  const deps = { db: stack.database.db, workflows: stack.env.client.workflow, log: createLogger('silent') };
  for (;;) {
    if ((await routePending(deps, { leaseMs: 30_000, batch: 200 })) > 0) continue;
    const { rows } = await stack.database.db.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM events WHERE routed_at IS NULL) + (SELECT count(*) FROM segment_clocks WHERE ' +
        'arm_pending) AS n',
    );
    if (Number(rows[0].n) === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The clock moments the API's build stores for a segment (worker/segment-build-activities.ts armChunkClocks),
 * over the whole base in one statement. The bench then marks them armed without starting a
 * clock workflow per contact (at full scale that alone would take many minutes): the measure is
 * the steady upkeep, where a contact's clock exists and a new event seldom needs it earlier.
 */
async function storeBuildClocks(stack: Stack, condition: Condition): Promise<void> {
  const direction = timeDirection(condition);
  if (!direction.canRise && !direction.canFall) return;
  const db = stack.database.db;
  const hi = (await db.query<{ hi: string }>('SELECT max(id) AS hi FROM contacts')).rows[0].hi;
  await storeClocksToArm(
    db,
    flipsInRangeSql(
      condition,
      new Date(),
      '',
      hi,
      direction.canRise && direction.canFall ? undefined : direction.canFall,
    ),
  );
}

const countOf = async (stack: Stack, sql: string) => (await stack.database.db.query<{ n: number }>(sql)).rows[0].n;

/**
 * Rounds alternate without and with the mix's live segments (switched off and on between
 * rounds), so a shared machine's drift weighs on both sides alike. Each batch counts until the
 * router loop has also routed the entries and exits it caused and armed the clocks: they are
 * part of the upkeep's cost.
 */
async function upkeepMix(stack: Stack, mix: Mix, contacts: number, offsetBase: number): Promise<void> {
  const count = intFromEnv('BENCH_SEGMENT_INGEST', 2_000);
  const rounds = intFromEnv('BENCH_SEGMENT_ROUNDS', 5);
  const concurrency = intFromEnv('BENCH_CONCURRENCY', 8);
  const db = stack.database.db;
  const prearm = intFromEnv('BENCH_SEGMENT_PREARM', 1, 0) > 0;
  const ids = mix.segments.map(([id]) => id);
  // Built over the base first, as the API does: the measure is the steady upkeep, not every
  // contact entering its segments for the first time. (The builds start no clock workflows: with
  // BENCH_SEGMENT_PREARM, their clocks' moments are stored as armed; without, a contact's first
  // event in the measure arms its clock, counted below.)
  progress(`${mix.name.split(':')[0]}: building ${ids.length} segments over the base`);
  for (const [id, condition] of mix.segments) {
    const segment = await newSegment(stack, id, condition, contacts);
    await runBuild({ db, log: createLogger('silent') }, segment, { armClocks: false });
    if (prearm) await storeBuildClocks(stack, condition);
  }
  // As if the builds had armed them: Temporal already has every clock (none is due during the bench).
  if (prearm) await db.query('UPDATE segment_clocks SET arm_pending = false WHERE arm_pending');
  // 'failed' segments are not kept up to date: the switch between the two sides.
  // Each process reads the list of live segments again after LIVE_SEGMENTS_CACHE_MS: waited out
  // (untimed) so that each side is measured with the segments it is meant to have.
  const live = async (on: boolean) => {
    await db.query(`UPDATE segments SET status = $1 WHERE id = ANY($2)`, [on ? 'ready' : 'failed', ids]);
    await new Promise((resolve) => setTimeout(resolve, 2 * LIVE_SEGMENTS_CACHE_MS));
  };
  const per = Math.max(1, Math.floor(count / rounds));
  // Warm-up, untimed, on both sides: every pooled connection prepares and plans the upkeep
  // statements of this mix (a few custom plans, then the cached one), as in a process that has
  // been running; the rounds measure that steady state.
  const warm = Math.min(400, per);
  await live(true);
  await ingest(stack, mix, `warm-live-${offsetBase}`, warm, contacts, concurrency, offsetBase + 500);
  await drained(stack);
  await live(false);
  await ingest(stack, mix, `warm-${offsetBase}`, warm, contacts, concurrency, offsetBase);
  await drained(stack);
  const changesBefore = await countOf(
    stack,
    "SELECT count(*)::int AS n FROM events WHERE name IN ('Segment Entered', 'Segment Exited')",
  );
  const clocksBefore = clocksArmedInProcess();
  let without = 0;
  let withSegments = 0;
  for (let round = 0; round < rounds; round += 1) {
    progress(`round ${round + 1}/${rounds}: ${per} events without, then with ${ids.length} live segments`);
    await live(false);
    const offset = offsetBase + 1_000 + round * 2 * per;
    without += (
      await timed(async () => {
        await ingest(stack, mix, `plain-${offsetBase}-${round}`, per, contacts, concurrency, offset);
        await drained(stack);
      })
    ).seconds;
    await live(true);
    withSegments += (
      await timed(async () => {
        await ingest(stack, mix, `live-${offsetBase}-${round}`, per, contacts, concurrency, offset + per);
        await drained(stack);
      })
    ).seconds;
  }
  await live(false);
  const total = per * rounds;
  const perEvent = (s: number) => (s * 1000) / total;
  const changes =
    (await countOf(
      stack,
      "SELECT count(*)::int AS n FROM events WHERE name IN ('Segment Entered', 'Segment Exited')",
    )) - changesBefore;
  const clocks = clocksArmedInProcess() - clocksBefore;
  print();
  print(`upkeep, ${mix.name}`);
  print(
    `  ingest without segments: ${(total / without).toFixed(0)} events/s (${perEvent(without).toFixed(2)} ms per ` +
      `event at ${concurrency} in flight)`,
  );
  print(
    `  ingest with ${ids.length} live segments: ${(total / withSegments).toFixed(0)} events/s ` +
      `(${perEvent(withSegments).toFixed(2)} ms per event; ${changes} entries/exits stored and routed, ${clocks} ` +
      `clocks armed)`,
  );
  print(
    `  extra cost per event: ${(((withSegments - without) / without) * 100).toFixed(1)} % of the ingest cost ` +
      `without segments (goal <= 25 %)`,
  );
}

async function upkeepSection(stack: Stack, contacts: number): Promise<void> {
  const only = process.env.BENCH_SEGMENT_MIX;
  for (const [index, mix] of MIXES.entries()) {
    if (only && !mix.name.startsWith(only)) continue;
    await upkeepMix(stack, mix, contacts, index * 500_000);
  }
}

async function main(): Promise<void> {
  const contacts = intFromEnv('BENCH_SEGMENT_CONTACTS', 100_000);
  const events = intFromEnv('BENCH_SEGMENT_EVENTS', 1_000_000);
  const stack = await startStack();
  try {
    await seed(stack, contacts, events);
    if (intFromEnv('BENCH_SEGMENT_BUILD', 1, 0) > 0) await buildSection(stack, contacts);
    await upkeepSection(stack, contacts);
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench:segments failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
