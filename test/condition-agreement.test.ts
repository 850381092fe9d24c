/**
 * One condition, one answer: the activity side of a journey (a split, the send guard, a trigger's contact filter:
 * activities/facts.ts `loadFacts` + flows/conditions.ts `evaluate`) and a segment (the preview's SQL over the same
 * contact) agree on random event histories, including histories of more than 1,000 events, where the activity side
 * once read only the newest 1,000 and answered `count >= 1,200` false while the segment answered true.
 */
import fc from 'fast-check';
import { previewSql } from '../audiences/segment-sql';
import { loadFacts } from '../activities/facts';
import { evaluate } from '../flows/conditions';
import type { Condition, EventCondition, PropertyCondition } from '../flows/schema';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

const MINUTE = 60_000;
const NAMES = ['Order Completed', 'Page Viewed'] as const;

/** A history drawn from a seed: a few events, or more than 1,000, over the last 60 days. */
const history = fc.record({
  size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 990, max: 1_400 })),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

function eventsOf(spec: { size: number; seed: number }, now: number) {
  let state = spec.seed;
  const next = (n: number) => {
    // A small LCG: the history is a function of the seed, so fast-check can replay a failure.
    state = (Math.imul(state, 1_103_515_245) + 12_345) & 0x7fffffff;
    return state % n;
  };
  return Array.from({ length: spec.size }, (_, i) => {
    const total = next(5) === 0 ? String(next(200)) : next(200);
    return {
      message_id: `${spec.seed}-${i}`,
      name: NAMES[next(8) === 0 ? 1 : 0],
      properties: { ...(next(6) === 0 ? {} : { total }), category: next(2) === 0 ? 'a' : 'b' },
      // Half a minute off the minute: no event sits on a window's edge while the two sides read the clock.
      occurred_at: new Date(now - next(60 * 24 * 60) * MINUTE - 30_000).toISOString(),
    };
  });
}

const op = fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const, 'eq' as const);
const WHERES: PropertyCondition[][] = [
  [{ property: 'category', op: 'equals', value: 'a' }],
  [{ property: 'total', op: 'gt', value: 120 }],
  [{ property: 'total', op: 'exists' }],
];
/** Present `present` times in `present + absent`: most conditions keep to a count, as most flows do. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, present: number, absent: number) =>
  fc.oneof({ weight: present, arbitrary }, { weight: absent, arbitrary: fc.constant(undefined) });
const eventCondition: fc.Arbitrary<EventCondition> = fc
  .record({
    event: fc.constantFrom(...NAMES),
    within: sometimes(fc.constantFrom('3 days', '30 days'), 1, 2),
    where: sometimes(fc.constantFrom(...WHERES), 1, 2),
    count: sometimes(
      fc.record({
        op: fc.constantFrom('gte' as const, 'lte' as const, 'eq' as const),
        value: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 990, max: 1_250 })),
      }),
      3,
      1,
    ),
    sum: sometimes(
      fc.record({ property: fc.constant('total'), op, value: fc.integer({ min: 90_000, max: 130_000 }) }),
      1,
      3,
    ),
    min: sometimes(fc.record({ property: fc.constant('total'), op, value: fc.integer({ min: 0, max: 200 }) }), 1, 5),
    max: sometimes(fc.record({ property: fc.constant('total'), op, value: fc.integer({ min: 0, max: 200 }) }), 1, 5),
    first: sometimes(
      fc.record({
        op: fc.constantFrom('within_last' as const, 'more_than_ago' as const),
        value: fc.constantFrom('2 days', '40 days'),
      }),
      1,
      5,
    ),
    last: sometimes(
      fc.record({
        op: fc.constantFrom('within_last' as const, 'more_than_ago' as const),
        value: fc.constantFrom('1 day', '20 days'),
      }),
      1,
      5,
    ),
  })
  .map((c): EventCondition => c);

const condition: fc.Arbitrary<Condition> = fc.oneof(
  { weight: 3, arbitrary: eventCondition },
  { weight: 1, arbitrary: eventCondition.map((c): Condition => ({ not: c })) },
  { weight: 1, arbitrary: fc.tuple(eventCondition, eventCondition).map(([a, b]): Condition => ({ all: [a, b] })) },
  { weight: 1, arbitrary: fc.tuple(eventCondition, eventCondition).map(([a, b]): Condition => ({ any: [a, b] })) },
);

let runs = 0;
interface StoredFact {
  message_id: string;
  name: string;
  properties: Record<string, unknown>;
  occurred_at: string;
}
async function bothAnswers(events: (now: number) => StoredFact[], c: Condition) {
  const contactId = `agree-${++runs}`;
  const db = database.db;
  const now = Date.now();
  await db.query('INSERT INTO contacts (id) VALUES ($1)', [contactId]);
  await db.query(
    `INSERT INTO events (message_id, type, contact_id, name, properties, occurred_at)
     SELECT $1 || ':' || e.message_id, 'track', $1, e.name, e.properties, e.occurred_at
       FROM jsonb_to_recordset($2::jsonb) AS e(message_id text, name text, properties jsonb, occurred_at timestamptz)`,
    [contactId, JSON.stringify(events(now))],
  );
  try {
    // The trigger's contact filter's facts: no trigger, the whole history.
    const journey = evaluate(c, await loadFacts(db, contactId, [c], { now })) === true;
    const preview = previewSql(c, new Date(Math.max(now, Date.now())), 1);
    const segment = (await db.query<{ count: number }>(preview.count.text, preview.count.values)).rows[0].count === 1;
    return { journey, segment };
  } finally {
    await db.query('DELETE FROM events WHERE contact_id = $1', [contactId]);
    await db.query('DELETE FROM contacts WHERE id = $1', [contactId]);
  }
}

test('a journey and a segment give the same answer on any history, past 1,000 events too', async () => {
  await fc.assert(
    fc.asyncProperty(history, condition, async (spec, c) => {
      const { journey, segment } = await bothAnswers((now) => eventsOf(spec, now), c);
      expect({ journey, condition: c }).toEqual({ journey: segment, condition: c });
    }),
    { numRuns: 80 },
  );
}, 240_000);

test('count >= 1,200 over 1,250 orders: true on both sides (the activity side once saw only 1,000)', async () => {
  const orders = (now: number) =>
    Array.from({ length: 1_250 }, (_, i) => ({
      message_id: `order-${i}`,
      name: NAMES[0],
      properties: { total: 10 },
      occurred_at: new Date(now - i * MINUTE - 30_000).toISOString(),
    }));
  const atLeast = (value: number): EventCondition => ({ event: NAMES[0], count: { op: 'gte', value } });
  expect(await bothAnswers(orders, atLeast(1_200))).toEqual({ journey: true, segment: true });
  expect(await bothAnswers(orders, atLeast(1_251))).toEqual({ journey: false, segment: false });
  const spent: EventCondition = { event: NAMES[0], sum: { property: 'total', op: 'eq', value: 12_500 } };
  expect(await bothAnswers(orders, spent)).toEqual({ journey: true, segment: true });
});
