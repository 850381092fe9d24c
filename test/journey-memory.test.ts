/**
 * The journey's bounded event memory must answer every condition exactly as the full list of
 * signalled events did: random flows' conditions (where, count, within, fromTrigger,
 * engagement, all/any/not) over random event streams, compared at several moments.
 */
import { evaluate, type Facts } from '../flows/conditions';
import type { Condition, PropertyCondition } from '../flows/schema';
import { EventMemory, projectProperties } from '../workflows/event-memory';
import type { JourneyEvent } from '../flows/journey-messages';

/** A seeded generator (mulberry32), so a failure names a seed that reproduces it. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  return { next, int, pick };
}
type Random = ReturnType<typeof generator>;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const NAMES = ['Order Completed', 'Product Viewed', 'Email Opened', 'Email Clicked', 'Email Delivered'] as const;
const SENT = { hello: 'msg-hello', later: 'msg-later' };

function propertyCondition(r: Random): PropertyCondition {
  switch (r.int(7)) {
    case 0:
      return { property: 'n', op: r.pick(['gt', 'gte', 'lt', 'lte'] as const), value: r.int(5) };
    case 1:
      return { property: 'tag', op: r.pick(['equals', 'not_equals'] as const), value: r.pick(['x', 'y']) };
    case 2:
      return { property: 'cart.id', op: 'equals', value: { fromTrigger: 'cart_id' } };
    case 3:
      return { property: 'items', op: 'contains', value: r.pick(['a', 'b']) };
    case 4:
      return { property: 'tag', op: r.pick(['exists', 'not_exists'] as const) };
    case 5:
      return {
        property: 'at',
        op: r.pick(['within_last', 'more_than_ago'] as const),
        value: r.pick(['1 hour', '1 day']),
      };
    default:
      return {
        property: 'at',
        op: r.pick(['before', 'after'] as const),
        value: new Date(T0 + r.int(48) * HOUR).toISOString(),
      };
  }
}

function condition(r: Random, depth = 0): Condition {
  const kind = depth < 2 ? r.int(7) : 3 + r.int(4);
  if (kind === 0) return { all: [condition(r, depth + 1), condition(r, depth + 1)] };
  if (kind === 1) return { any: [condition(r, depth + 1), condition(r, depth + 1)] };
  if (kind === 2) return { not: condition(r, depth + 1) };
  if (kind === 3)
    return {
      message: r.pick(['hello', 'later', 'never-sent']),
      engaged: r.pick(['delivered', 'opened', 'clicked'] as const),
    };
  const event: Condition = { event: r.pick(['Order Completed', 'Product Viewed']) };
  if (r.int(2)) event.where = Array.from({ length: 1 + r.int(2) }, () => propertyCondition(r));
  if (r.int(2)) event.count = { op: r.pick(['gte', 'lte', 'eq'] as const), value: r.int(4) };
  if (r.int(3) === 0) event.within = r.pick(['2 hours', '1 day', '3 days']);
  return event;
}

function event(r: Random, id: number): JourneyEvent {
  const name = r.pick(NAMES);
  const at = T0 + (r.int(96) - 12) * HOUR + r.int(HOUR);
  const properties: Record<string, unknown> = {
    n: r.int(6),
    tag: r.pick(['x', 'y', undefined]),
    cart: { id: r.pick(['c1', 'c2']) },
    items: r.pick([['a'], ['b', 'c'], []]),
    at: new Date(at - r.int(30) * HOUR).toISOString(),
    junk: 'z'.repeat(r.int(50)),
  };
  if (name.startsWith('Email')) properties.message_id = r.pick([...Object.values(SENT), 'someone-else']);
  return { id, messageId: `m-${id}`, name, properties, timestamp: new Date(at).toISOString() };
}

const trigger: JourneyEvent = {
  id: 0,
  messageId: 'trigger',
  name: 'Checkout Started',
  properties: { cart_id: 'c1' },
  timestamp: new Date(T0).toISOString(),
};

test('the bounded memory answers every condition like the full event list (1,000 random cases)', () => {
  let compared = 0;
  let decided = 0;
  for (let seed = 1; seed <= 1_000; seed += 1) {
    const r = generator(seed);
    const conditions = Array.from({ length: 1 + r.int(3) }, () => condition(r));
    const waits = [{ event: 'Product Viewed', where: [propertyCondition(r)] }];
    const memory = new EventMemory(conditions, waits, () => new Set(Object.values(SENT)), trigger);
    const all: JourneyEvent[] = [];
    const count = r.int(60);
    for (let i = 1; i <= count; i += 1) {
      const e = event(r, i);
      all.push(e);
      memory.record(e, T0 + i * 60_000);
      // Mid-stream too: the journey evaluates after every signal.
      if (r.int(10) === 0 || i === count) {
        for (const now of [T0 + i * 60_000, T0 + 50 * HOUR, T0 + 200 * HOUR]) {
          for (const c of conditions) {
            const base: Omit<Facts, 'journeyEvents'> = { now, trigger, sentMessages: SENT };
            const expected = evaluate(c, { ...base, journeyEvents: all });
            const actual = evaluate(c, { ...base, journeyEvents: memory.events() });
            if (actual !== expected)
              throw new Error(
                `seed ${seed}, after ${i} events, now ${new Date(now).toISOString()}: ${JSON.stringify(c)} gave ${actual}, full list ${expected}`,
              );
            compared += 1;
            if (expected !== undefined) decided += 1;
          }
        }
      }
    }
  }
  // The generator must produce decided answers, not only "unknown" (a test that cannot fail).
  expect(compared).toBeGreaterThan(2_500);
  expect(decided / compared).toBeGreaterThan(0.3);
});

test('memory stays bounded: 50,000 matching events keep only what a count >= 3 needs', () => {
  const memory = new EventMemory(
    [{ event: 'Product Viewed', count: { op: 'gte', value: 3 } }],
    [],
    () => new Set(),
    trigger,
  );
  for (let i = 1; i <= 50_000; i += 1) {
    memory.record(
      {
        id: i,
        messageId: `m${i}`,
        name: 'Product Viewed',
        properties: { big: 'x'.repeat(1_000) },
        timestamp: new Date(T0 + i).toISOString(),
      },
      T0 + i,
    );
  }
  expect(memory.events().map((e) => e.id)).toEqual([49_997, 49_998, 49_999, 50_000]);
  // Only the paths conditions read are kept: a 1 KB property no condition reads is dropped.
  expect(memory.events()[0].properties).toEqual({});
  expect(memory.snapshot().seenIds).toHaveLength(2_000);
});

test('a wait_for_event matches only events that arrive while it waits', () => {
  const memory = new EventMemory(
    [],
    [{ event: 'Quiz Finished', where: [{ property: 'score', op: 'gte', value: 5 }] }],
    () => new Set(),
    trigger,
  );
  const quiz = (id: number, score: number): JourneyEvent => ({
    id,
    messageId: `q${id}`,
    name: 'Quiz Finished',
    properties: { score },
    timestamp: new Date(T0 + id).toISOString(),
  });
  memory.record(quiz(1, 9), T0);
  memory.startWait({ event: 'Quiz Finished', where: [{ property: 'score', op: 'gte', value: 5 }] });
  expect(memory.waitMatched()).toBe(false);
  memory.record(quiz(2, 3), T0);
  expect(memory.waitMatched()).toBe(false);
  memory.record(quiz(3, 7), T0);
  expect(memory.waitMatched()).toBe(true);
});

test('projection keeps nested paths and array elements readable at the same path', () => {
  const properties = { a: { b: [{ c: 1, d: 2 }], e: 3 }, f: 'big' };
  expect(projectProperties(properties, ['a.b.0.c', 'a.e', 'missing.x'])).toEqual({ a: { b: { 0: { c: 1 } }, e: 3 } });
});
