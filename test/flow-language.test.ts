/** The pure parts of the flow language: durations, conditions, the step graph. */
import { evaluate, matchesProperty } from '../flows/conditions';
import { exitRules, firstExit } from '../flows/exits';
import { parseDuration } from '../flows/duration';
import { checkStepGraph, nextStepId } from '../flows/graph';
import type { Step } from '../flows/schema';

test.each([
  ['30 seconds', 30_000],
  ['90s', 90_000],
  ['1 hour', 3_600_000],
  ['24 hours', 86_400_000],
  ['2 days', 172_800_000],
  ['1 week', 604_800_000],
  ['1.5h', 5_400_000],
  ['15 min', 900_000],
])('"%s" is %d ms', (text, ms) => {
  expect(parseDuration(text)).toBe(ms);
});

test.each(['soon', '1 fortnight', '', '-1 hour', 'hour'])('"%s" is not a duration', (text) => {
  expect(parseDuration(text)).toBeUndefined();
});

describe('property conditions', () => {
  const props = { total: '120.5', currency: 'EUR', tags: ['vip'], products: [{ category: 'pants' }], coupon: null };
  test.each([
    [{ property: 'total', op: 'gt', value: 100 }, true],
    [{ property: 'total', op: 'lte', value: 100 }, false],
    [{ property: 'currency', op: 'equals', value: 'EUR' }, true],
    [{ property: 'currency', op: 'not_equals', value: 'EUR' }, false],
    [{ property: 'total', op: 'equals', value: 120.5 }, true],
    [{ property: 'tags', op: 'contains', value: 'vip' }, true],
    [{ property: 'currency', op: 'contains', value: 'U' }, true],
    [{ property: 'products.0.category', op: 'equals', value: 'pants' }, true],
    [{ property: 'coupon', op: 'exists' }, false],
    [{ property: 'missing', op: 'not_exists' }, true],
    [{ property: 'currency', op: 'gt', value: 1 }, false],
  ] as const)('%j -> %s', (condition, expected) => {
    expect(matchesProperty(props, condition, { now: Date.now() })).toBe(expected);
  });
});

test('a flow filter matches only its event, at or after the journey start, with its property conditions', () => {
  const rules = exitRules({
    exitWhen: [
      { event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }] },
    ],
    goal: { event: 'Order Completed', exitOnGoal: false },
  });
  const start = '2026-01-01T10:00:00.000Z';
  const trigger = { name: 'Checkout Started', properties: { cart_id: 'c1' }, timestamp: start };
  const seen = (timestamp: string, cart: string) => ({
    now: Date.parse('2026-01-03T00:00:00Z'),
    trigger,
    journeyEvents: [{ name: 'Order Completed', properties: { cart_id: cart }, timestamp }],
  });
  expect(firstExit(rules, seen('2026-01-01T10:00:00.000Z', 'c1'))).toBe(rules[0]);
  expect(firstExit(rules, seen('2026-01-01T09:59:59.999Z', 'c1'))).toBeUndefined();
  expect(firstExit(rules, seen('2026-01-02T00:00:00.000Z', 'c2'))).toBeUndefined();
});

describe('conditions', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const orders = (n: number, daysAgo = 10) =>
    Array.from({ length: n }, () => ({
      name: 'Order Completed',
      properties: {},
      timestamp: new Date(now - daysAgo * 86_400_000).toISOString(),
    }));
  const fiveOrders = { event: 'Order Completed', count: { op: 'gte' as const, value: 5 }, within: '365 days' };

  test('"5 orders in the last 365 days" counts stored events in the window', () => {
    expect(evaluate(fiveOrders, { now, events: orders(5) })).toBe(true);
    expect(evaluate(fiveOrders, { now, events: orders(4) })).toBe(false);
    expect(evaluate(fiveOrders, { now, events: orders(5, 400) })).toBe(false);
  });

  test('what only the journey saw can say yes, never no', () => {
    expect(evaluate(fiveOrders, { now, journeyEvents: orders(5) })).toBe(true);
    expect(evaluate(fiveOrders, { now, journeyEvents: orders(1) })).toBeUndefined();
    expect(evaluate({ not: fiveOrders }, { now, journeyEvents: orders(1) })).toBeUndefined();
  });

  test('profile conditions, dates and combinations', () => {
    const profile = { plan: 'pro', signed_up: '2026-05-20T00:00:00Z', tags: ['vip'] };
    expect(
      evaluate(
        {
          all: [
            { profile: { property: 'plan', op: 'equals', value: 'pro' } },
            { profile: { property: 'signed_up', op: 'within_last', value: '30 days' } },
          ],
        },
        { now, profile },
      ),
    ).toBe(true);
    expect(
      evaluate({ profile: { property: 'signed_up', op: 'more_than_ago', value: '30 days' } }, { now, profile }),
    ).toBe(false);
    expect(
      evaluate(
        {
          any: [
            { profile: { property: 'tags', op: 'contains', value: 'gold' } },
            { not: { profile: { property: 'plan', op: 'equals', value: 'free' } } },
          ],
        },
        { now, profile },
      ),
    ).toBe(true);
    expect(evaluate({ profile: { property: 'plan', op: 'exists' } }, { now })).toBeUndefined();
  });

  test('engagement with a message this journey sent', () => {
    const opened = { name: 'Email Opened', properties: { message_id: 'm1' }, timestamp: new Date(now).toISOString() };
    const clicked = { name: 'Email Clicked', properties: { message_id: 'm1' }, timestamp: new Date(now).toISOString() };
    expect(
      evaluate(
        { message: 'mail-1', engaged: 'opened' },
        { now, sentMessages: { 'mail-1': 'm1' }, journeyEvents: [opened] },
      ),
    ).toBe(true);
    expect(
      evaluate(
        { message: 'mail-1', engaged: 'opened' },
        { now, sentMessages: { 'mail-1': 'm1' }, journeyEvents: [clicked] },
      ),
    ).toBe(true);
    expect(
      evaluate(
        { message: 'mail-1', engaged: 'clicked' },
        { now, sentMessages: { 'mail-1': 'm1' }, journeyEvents: [opened], events: [opened] },
      ),
    ).toBe(false);
    expect(evaluate({ message: 'mail-1', engaged: 'opened' }, { now, sentMessages: {}, journeyEvents: [opened] })).toBe(
      false,
    );
  });
});

describe('step graph', () => {
  const delay = (id: string, next?: string): Step => ({
    id,
    type: 'delay',
    duration: '1 hour',
    ...(next ? { next } : {}),
  });
  const exit = (id: string): Step => ({ id, type: 'exit' });

  test('steps run in list order unless `next` says otherwise; exit ends the journey', () => {
    const steps = [delay('a', 'c'), delay('b'), exit('c'), delay('d')];
    expect(nextStepId(steps, 0)).toBe('c');
    expect(nextStepId(steps, 1)).toBe('c');
    expect(nextStepId(steps, 2)).toBeUndefined();
    expect(nextStepId(steps, 3)).toBeUndefined();
    expect(checkStepGraph(steps)).toEqual([]);
  });

  test('a loop is reported on the step that closes it', () => {
    expect(checkStepGraph([delay('a'), delay('b', 'a')])).toEqual([
      { path: ['steps', 1, 'next'], message: 'step "b" leads back into a loop' },
    ]);
  });
});
