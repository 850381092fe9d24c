/**
 * The inactivity trigger ("no Order Completed for 90 days") on the segments' time-based
 * entries. Pure. A flow with `trigger: { inactivity }` keeps a system segment whose condition
 * is "did it at least once, the last one more than `for` ago": the contact's segment clock
 * enters it exactly `for` after the last such event, and every new one makes it leave and
 * re-arms the clock, so each lapse is one `Segment Entered` event, one entry (decided once per
 * that stored event), whatever the number of orders before. The router sees such a flow as
 * its effective form: triggered by that segment's Segment Entered, leaving (by default) when
 * the contact does the event again.
 */
import { createHash } from 'node:crypto';
import { parseDuration } from './duration';
import type { Condition, EventTrigger, FlowDefinition, InactivityTrigger } from './schema';
import { EVENTS } from './event-names';

export type Inactivity = InactivityTrigger['inactivity'];

/** The event the segment's changes are stored under (db/segments.ts, SEGMENT_ENTERED). */
const SEGMENT_ENTERED = EVENTS.segmentEntered;

export function inactivityOf(flow: Pick<FlowDefinition, 'trigger'>): Inactivity | undefined {
  return 'inactivity' in flow.trigger ? flow.trigger.inactivity : undefined;
}

/**
 * One segment per (event, where, span): two flows on "no order for 90 days" share it, and an
 * edit of the span makes a new one. "90 days" and "90d" are the same span.
 */
export function inactivitySegmentId(t: Inactivity): string {
  const key = JSON.stringify({ event: t.event, where: t.where ?? [], ms: parseDuration(t.for) });
  return `inactive-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

export function inactivitySegmentName(t: Inactivity): string {
  return `No ${t.event}${t.where?.length ? ' (filtered)' : ''} for ${t.for}`.slice(0, 200);
}

/** Did it at least once, the last one more than `for` ago (the `last` of nothing never holds). */
export function inactivitySegmentCondition(t: Inactivity): Condition {
  return {
    event: t.event,
    ...(t.where?.length ? { where: t.where } : {}),
    last: { op: 'more_than_ago', value: t.for },
  };
}

/**
 * What the router and the journey run: the segment's entry as an event trigger, and the
 * event's return as one more flow filter (counted from the entry, so the orders before the
 * lapse never count). Other flows are returned as they are.
 */
export function effectiveFlow(flow: FlowDefinition): FlowDefinition {
  const t = inactivityOf(flow);
  if (!t) return flow;
  const trigger: EventTrigger = {
    event: SEGMENT_ENTERED,
    where: [{ property: 'segment_id', op: 'equals', value: inactivitySegmentId(t) }],
  };
  const back: Condition = { event: t.event, ...(t.where?.length ? { where: t.where } : {}) };
  return { ...flow, trigger, exitWhen: t.exitOnReturn === false ? flow.exitWhen : [...flow.exitWhen, back] };
}
