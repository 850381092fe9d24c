/**
 * What a segment depends on (the router's index) and when a clock is needed at all: pure
 * functions, checked on the shapes the issue names.
 */
import { needsClock, segmentDependencies, timeDirection } from '../flows/segment-deps';
import type { Condition } from '../flows/schema';

const spend: Condition = {
  event: 'Order Completed',
  within: '365 days',
  sum: { property: 'total', op: 'gte', value: 500 },
};
const lapsed: Condition = { event: 'Order Completed', last: { op: 'more_than_ago', value: '90 days' } };
const noRecentOrder: Condition = { not: { event: 'Order Completed', within: '90 days' } };

test('dependencies: event names, traits, segments, lists, consent, time', () => {
  expect(
    segmentDependencies({
      all: [
        spend,
        { profile: { property: 'plan', op: 'equals', value: 'pro' } },
        { segment: 'vip' },
        { list: 'news' },
        { consent: { channel: 'sms', status: 'subscribed' } },
      ],
    }),
  ).toEqual({
    events: ['Order Completed'],
    traits: true,
    segments: ['vip'],
    lists: true,
    consent: true,
    timeBased: true,
  });
  expect(segmentDependencies({ event: 'Order Completed', count: { op: 'gte', value: 3 } })).toMatchObject({
    events: ['Order Completed'],
    traits: false,
    timeBased: false,
  });
  expect(
    segmentDependencies({ profile: { property: 'signed_up', op: 'within_last', value: '30 days' } }),
  ).toMatchObject({ traits: true, timeBased: true });
});

test('a clock only where waiting can change membership', () => {
  // Spend over a window only shrinks: members can fall out, non-members never get in by waiting.
  expect(timeDirection(spend)).toEqual({ canRise: false, canFall: true });
  expect(needsClock(timeDirection(spend), true)).toBe(true);
  expect(needsClock(timeDirection(spend), false)).toBe(false);
  // "Last order more than 90 days ago": waiting only lets people in.
  expect(timeDirection(lapsed)).toEqual({ canRise: true, canFall: false });
  expect(timeDirection(noRecentOrder)).toEqual({ canRise: true, canFall: false });
  // Combinations keep both directions; facts without time have none.
  expect(timeDirection({ any: [spend, lapsed] })).toEqual({ canRise: true, canFall: true });
  expect(timeDirection({ all: [{ segment: 'vip' }, { event: 'Order Completed' }] })).toEqual({
    canRise: false,
    canFall: false,
  });
  expect(timeDirection({ event: 'Order Completed', within: '30 days', count: { op: 'eq', value: 2 } })).toEqual({
    canRise: true,
    canFall: true,
  });
  expect(
    timeDirection({ event: 'Order Completed', within: '30 days', min: { property: 'total', op: 'gte', value: 50 } }),
  ).toEqual({ canRise: true, canFall: false });
});
