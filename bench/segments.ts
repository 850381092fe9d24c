/**
 * `npm run bench:segments` (tsx bench/segments.ts): what live segments cost.
 *
 * 1. Build: a new segment ("spent at least 500 over Order Completed in the last 365 days")
 *    over BENCH_SEGMENT_CONTACTS contacts (100,000) and BENCH_SEGMENT_EVENTS events
 *    (1,000,000), as the API builds it (BENCH_SEGMENT_CHUNK contacts per set-based statement,
 *    10,000), next to one hand-written SQL query computing the same membership on the same
 *    data, and the compiled statement alone (counting, no writes). Printed: seconds per
 *    100,000 contacts and the ratios (goal: at most 2x). BENCH_SEGMENT_BUILD=0 skips it.
 * 2. Incremental upkeep: BENCH_SEGMENT_INGEST `POST /v1/track` of Order Completed over real
 *    HTTP (BENCH_CONCURRENCY in flight, 8), in BENCH_SEGMENT_ROUNDS rounds (5) alternating
 *    without and with 20 live segments that all depend on that event (windows, sums, first/last,
 *    profile, a segment on a segment), built over the base first; each batch is timed until the
 *    entries and exits it stored are routed too. Printed: the extra cost per event as a share of
 *    the ingest cost without (goal: at most 25 %).
 * The stack is bench/stack.ts: a Temporal dev server, a fresh database, the API on 127.0.0.1.
 */
import { segmentDependencies } from '../audiences/segment-deps';
import { runBuild } from '../api/segments/build';
import { previewSql } from '../audiences/segment-sql';
import { insertSegment, type Segment } from '../db/segments';
import type { Condition } from '../flows/schema';
import { createLogger } from '../runtime/logger';
import { routePending } from '../routing/router-loop';
import { runBounded } from './load';
import { intFromEnv } from './settings';
import { startStack, type Stack } from './stack';

const progress = (text: string) => process.stderr.write(`· ${text}\n`);
const print = (text = '') => process.stdout.write(`${text}\n`);

const SPEND: Condition = { event: 'Order Completed', within: '365 days', sum: { property: 'total', op: 'gte', value: 500 } };
const HAND_WRITTEN = `SELECT count(*)::int AS n FROM (
  SELECT contact_id FROM events WHERE type = 'track' AND name = 'Order Completed' AND occurred_at >= now() - interval '365 days'
  GROUP BY contact_id HAVING sum((properties->>'total')::numeric) >= 500) members`;

async function seed(stack: Stack, contacts: number, events: number): Promise<void> {
  const db = stack.database.db;
  progress(`seeding ${contacts} contacts and ${events} events`);
  await db.query(`INSERT INTO contacts (id, email, traits) SELECT 'c' || lpad(i::text, 7, '0'), 'c' || i || '@example.com', jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END, 'signed_up', (now() - make_interval(days => i % 700))::text) FROM generate_series(1, $1) i`, [contacts]);
  // Orders spread over two years, totals 5-300; a tenth of the events are email opens.
  const batch = 50_000;
  for (let from = 1; from <= events; from += batch) {
    await db.query(
      `INSERT INTO events (message_id, type, contact_id, name, properties, occurred_at, routed_at)
       SELECT 'seed-' || i, 'track', 'c' || lpad((1 + (i * 7919) % $3)::text, 7, '0'),
              CASE WHEN i % 10 = 0 THEN 'Email Opened' ELSE 'Order Completed' END,
              jsonb_build_object('total', 5 + (i * 31) % 296), now() - make_interval(mins => ((i * 104729) % (730 * 1440))::int), now()
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
  const segment = await insertSegment(stack.database.db, { id, name: id, condition, dependencies: segmentDependencies(condition), total });
  if (!segment) throw new Error(`segment ${id} exists`);
  return segment;
}

async function buildSection(stack: Stack, contacts: number): Promise<void> {
  const db = stack.database.db;
  const deps = { db, log: createLogger('silent') };
  const chunk = intFromEnv('BENCH_SEGMENT_CHUNK', 10_000);
  // Warm the caches once on each side, then measure each twice and keep the better run.
  await db.query(HAND_WRITTEN);
  const hand: number[] = [];
  const built: number[] = [];
  let handCount = 0;
  let builtCount = 0;
  const compiledAlone: number[] = [];
  for (let run = 0; run < 2; run += 1) {
    const count = previewSql(SPEND, new Date(), 1).count;
    compiledAlone.push((await timed(() => db.query(count.text, count.values))).seconds);
    const h = await timed(() => db.query<{ n: number }>(HAND_WRITTEN));
    hand.push(h.seconds);
    handCount = h.value.rows[0].n;
    const segment = await newSegment(stack, `spend-${run}`, SPEND, contacts);
    const b = await timed(() => runBuild(deps, segment, { chunk, armClocks: false }));
    built.push(b.seconds);
    builtCount = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM segment_members WHERE segment_id = $1 AND exited_at IS NULL", [segment.id])).rows[0].n;
    const status = (await db.query<{ status: string; build_error: string | null }>('SELECT status, build_error FROM segments WHERE id = $1', [segment.id])).rows[0];
    if (status.status !== 'ready') throw new Error(`build failed: ${status.build_error}`);
  }
  const per100k = (s: number) => (s * 100_000) / contacts;
  const best = (xs: number[]) => Math.min(...xs);
  print(`segment build "sum(total) >= 500 over Order Completed, last 365 days": ${per100k(best(built)).toFixed(2)} s per 100,000 contacts (${builtCount} members, chunks of ${chunk})`);
  print(`hand-written SQL, same membership:                                 ${per100k(best(hand)).toFixed(2)} s per 100,000 contacts (${handCount} members)`);
  print(`ratio build/hand-written: ${(best(built) / best(hand)).toFixed(2)} (goal <= 2)${builtCount === handCount ? '' : '  MEMBERS DIFFER'}`);
  print(`  the compiled statement alone (one statement, counting, no writes): ${per100k(best(compiledAlone)).toFixed(2)} s per 100,000 contacts, ratio ${(best(compiledAlone) / best(hand)).toFixed(2)}`);
  await db.query("DELETE FROM segments WHERE id LIKE 'spend-%'");
}

/** 20 segments depending on Order Completed, of every shape the upkeep evaluates. */
function liveSegments(): [string, Condition][] {
  const list: [string, Condition][] = [];
  for (const [i, value] of [100, 250, 500, 1000, 2000].entries()) list.push([`spend-${i}`, { event: 'Order Completed', within: '365 days', sum: { property: 'total', op: 'gte', value } }]);
  for (const [i, n] of [1, 2, 3, 5, 10].entries()) list.push([`orders-${i}`, { event: 'Order Completed', within: '90 days', count: { op: 'gte', value: n } }]);
  for (const [i, days] of [30, 60, 90, 180].entries()) list.push([`lapsed-${i}`, { event: 'Order Completed', last: { op: 'more_than_ago', value: `${days} days` } }]);
  list.push(['big-basket', { event: 'Order Completed', max: { property: 'total', op: 'gte', value: 250 } }]);
  list.push(['small-only', { event: 'Order Completed', max: { property: 'total', op: 'lt', value: 50 } }]);
  list.push(['new-buyer', { event: 'Order Completed', first: { op: 'within_last', value: '30 days' } }]);
  list.push(['pro-buyer', { all: [{ profile: { property: 'plan', op: 'equals', value: 'pro' } }, { event: 'Order Completed', within: '30 days' }] }]);
  list.push(['never-opened-buyer', { all: [{ event: 'Order Completed' }, { not: { event: 'Email Opened', within: '180 days' } }] }]);
  list.push(['vip-pro', { all: [{ segment: 'spend-2' }, { profile: { property: 'plan', op: 'equals', value: 'pro' } }] }]);
  return list;
}

/** Orders from distinct contacts (`offset` moves on between batches), each with its history of orders. */
async function ingest(stack: Stack, prefix: string, count: number, contacts: number, concurrency: number, offset = 0): Promise<number> {
  const result = await runBounded(count, concurrency, async (i) => {
    const userId = `c${String(1 + (((offset + i) * 104_723) % contacts)).padStart(7, '0')}`;
    await stack.api.expect(202, 'POST', '/v1/track', { userId, event: 'Order Completed', messageId: `${prefix}-${i}`, properties: { total: 5 + (i % 300) } });
  });
  return result.seconds;
}

/**
 * Routes what is still unrouted (the entries and exits the upkeep stored) right away, as the
 * router loop does, without its pause between passes: their routing is part of the upkeep's cost.
 */
async function drained(stack: Stack): Promise<void> {
  const deps = { db: stack.database.db, workflows: stack.env.client.workflow, log: createLogger('silent') };
  for (;;) {
    if ((await routePending(deps, { leaseMs: 30_000, batch: 200 })) > 0) continue;
    const { rows } = await stack.database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE routed_at IS NULL');
    if (rows[0].n === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Rounds alternate without and with the live segments (switched off and on between rounds), so
 * a shared machine's drift weighs on both sides alike. Each batch counts until the router loop
 * has also routed the entries and exits it caused: they are part of the upkeep's cost.
 */
async function upkeepSection(stack: Stack, contacts: number): Promise<void> {
  const count = intFromEnv('BENCH_SEGMENT_INGEST', 2_000);
  const rounds = intFromEnv('BENCH_SEGMENT_ROUNDS', 5);
  const concurrency = intFromEnv('BENCH_CONCURRENCY', 8);
  const db = stack.database.db;
  // Built over the base first, as the API does: the measure is the steady upkeep, not every
  // contact entering its segments for the first time. (Clocks are not armed by these builds: a
  // contact's first event in the measure arms its clock, counted below.)
  progress(`building ${liveSegments().length} segments over the base`);
  for (const [id, condition] of liveSegments()) {
    const segment = await newSegment(stack, id, condition, contacts);
    await runBuild({ db, log: createLogger('silent') }, segment, { armClocks: false });
  }
  // 'failed' segments are not kept up to date: the switch between the two sides.
  const live = (on: boolean) => db.query(`UPDATE segments SET status = $1 WHERE id = ANY($2)`, [on ? 'ready' : 'failed', liveSegments().map(([id]) => id)]);
  const per = Math.max(1, Math.floor(count / rounds));
  await live(false);
  await ingest(stack, 'warm', Math.min(200, per), contacts, concurrency);
  let without = 0;
  let withSegments = 0;
  for (let round = 0; round < rounds; round += 1) {
    progress(`round ${round + 1}/${rounds}: ${per} events without, then with ${liveSegments().length} live segments`);
    await live(false);
    const offset = 1_000 + round * 2 * per;
    without += (await timed(async () => { await ingest(stack, `plain-${round}`, per, contacts, concurrency, offset); await drained(stack); })).seconds;
    await live(true);
    withSegments += (await timed(async () => { await ingest(stack, `live-${round}`, per, contacts, concurrency, offset + per); await drained(stack); })).seconds;
  }
  const total = per * rounds;
  const perEvent = (s: number) => (s * 1000) / total;
  const clocks = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM segment_clocks')).rows[0].n;
  const changes = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE name IN ('Segment Entered', 'Segment Exited')")).rows[0].n;
  print();
  print(`ingest without segments: ${(total / without).toFixed(0)} events/s (${perEvent(without).toFixed(2)} ms per event at ${concurrency} in flight)`);
  print(`ingest with ${liveSegments().length} live segments, all depending on the ingested event: ${(total / withSegments).toFixed(0)} events/s (${perEvent(withSegments).toFixed(2)} ms per event; ${changes} entries/exits stored and routed, ${clocks} clocks armed)`);
  print(`extra cost per event: ${(((withSegments - without) / without) * 100).toFixed(1)} % of the ingest cost without segments (goal <= 25 %)`);
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
