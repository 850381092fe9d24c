/** The pure parts of the flow language: durations, conditions, the step graph. */
import { firstMatchingExit, matchesProperty } from '../flows/conditions';
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
    expect(matchesProperty(props, condition)).toBe(expected);
  });
});

test('a flow filter matches only its event, at or after the journey start, with its property conditions', () => {
  const exitWhen = [{ event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals' as const, value: 'c1' }] }];
  const start = '2026-01-01T10:00:00.000Z';
  const order = (timestamp: string, cart: string) => ({ name: 'Order Completed', properties: { cart_id: cart }, timestamp });
  expect(firstMatchingExit(order('2026-01-01T10:00:00.000Z', 'c1'), exitWhen, start)).toBe(exitWhen[0]);
  expect(firstMatchingExit(order('2026-01-01T09:59:59.999Z', 'c1'), exitWhen, start)).toBeUndefined();
  expect(firstMatchingExit(order('2026-01-02T00:00:00.000Z', 'c2'), exitWhen, start)).toBeUndefined();
  expect(firstMatchingExit({ name: 'Checkout Started', properties: { cart_id: 'c1' }, timestamp: start }, exitWhen, start)).toBeUndefined();
});

describe('step graph', () => {
  const delay = (id: string, next?: string): Step => ({ id, type: 'delay', duration: '1 hour', ...(next ? { next } : {}) });
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
    expect(checkStepGraph([delay('a'), delay('b', 'a')])).toEqual([{ path: ['steps', 1, 'next'], message: 'step "b" leads back into a loop' }]);
  });
});
