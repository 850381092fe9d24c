/**
 * The entry-time rule (flows/entry-time.ts) on its own: pure, so its edges are stated here with a
 * reference clock in 2030, not this month.
 */
import { entryTimeRefusal, isHistory, tellsJourney, triggerRefusal, type LiveFlow } from '../flows/entry-time';
import type { FlowDefinition } from '../flows/schema';

const NOW = Date.parse('2030-03-10T12:00:00Z');
const HOUR = 3_600_000;
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
const event = (occurredOffsetMs: number, context: Record<string, unknown> = {}, properties = {}) => ({
  occurredAt: at(occurredOffsetMs),
  receivedAt: at(0),
  context,
  properties,
});
const live = (
  flow: Partial<FlowDefinition> = {},
  liveSince = at(-30 * 24 * HOUR),
  derivedTrigger = false,
): LiveFlow => ({
  flow: { id: 'f', trigger: { event: 'Order Completed' }, ...flow } as FlowDefinition,
  liveSince,
  ...(derivedTrigger ? { derivedTrigger } : {}),
});

test('the default window is a day; a flow may widen it; before the go-live never enters', () => {
  expect(entryTimeRefusal(event(-23 * HOUR), live())).toBeUndefined();
  expect(entryTimeRefusal(event(-25 * HOUR), live())).toMatchObject({ kind: 'history' });
  expect(entryTimeRefusal(event(-72 * HOUR), live({ entryWindow: '7 days' }))).toBeUndefined();
  expect(entryTimeRefusal(event(-2 * HOUR), live({}, at(-HOUR)))).toMatchObject({ kind: 'before_live' });
});

test('context.historical wins over a fresh timestamp; only true counts', () => {
  expect(entryTimeRefusal(event(0, { historical: true }), live())).toMatchObject({ kind: 'history' });
  expect(entryTimeRefusal(event(0, { historical: 'true' }), live())).toBeUndefined();
});

test('a client clock ahead of ours is not history, and still reaches journeys started after its stamp', () => {
  expect(entryTimeRefusal(event(5 * 60_000), live())).toBeUndefined();
  expect(tellsJourney(event(-60_000), at(5 * 60_000))).toBe(true);
  expect(tellsJourney(event(-100 * 24 * HOUR), at(-HOUR))).toBe(false);
  expect(tellsJourney(event(-30 * 60_000, { historical: true }), at(-HOUR))).toBe(true);
  expect(tellsJourney(event(-2 * HOUR, { historical: true }), at(-HOUR))).toBe(false);
});

test('derived triggers (calendar, inactivity): no entry window, their where picks their events silently', () => {
  const calendar = live(
    { trigger: { event: 'Calendar Date Reached', where: [{ property: 'flow_id', op: 'equals', value: 'f' }] } },
    undefined,
    true,
  );
  expect(entryTimeRefusal(event(-26 * HOUR), calendar)).toBeUndefined();
  expect(triggerRefusal(event(0, {}, { flow_id: 'other' }), calendar, { now: NOW })).toBe('not_for_flow');
  const own = live({ trigger: { event: 'Big Order', where: [{ property: 'total', op: 'gte', value: 100 }] } });
  expect(triggerRefusal(event(0, {}, { total: 20 }), own, { now: NOW })).toEqual({
    kind: 'where',
    reason: "the event does not match the trigger's where: total gte 100",
  });
});

test('history in the answers: older than every flow window, or than a day when no flow listens', () => {
  expect(isHistory(event(-72 * HOUR), [])).toBe(true);
  expect(isHistory(event(-72 * HOUR), [live(), live({ entryWindow: '7 days' })])).toBe(false);
  expect(isHistory(event(-72 * HOUR), [live(), live({ entryWindow: '2 days' })])).toBe(true);
  // Kept out only by a go-live: not history, notEntered says why.
  expect(isHistory(event(-2 * HOUR), [live({}, at(-HOUR))])).toBe(false);
});
