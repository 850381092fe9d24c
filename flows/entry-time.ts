/**
 * History starts no flow: the one rule deciding, from time alone, whether an event may start a
 * journey. A shop's first act is often to import its past (orders of months ago, sent with their
 * Segment `timestamp`) to build segments and VIP counts; those orders must feed profiles and
 * segments without thanking anyone for a four-month-old order. An event may start a flow only
 * when it happened after the flow became live AND no longer than the flow's `entryWindow` before
 * it was received, and is not marked `context.historical: true`. Pure: routing and the ingestion
 * answers both ask it.
 */
import { matchesAllProperties, type Facts } from './conditions';
import { parseDuration } from './duration';
import { MIN_ENTRY_WINDOW_MS, type FlowDefinition, type PropertyCondition } from './schema';

/** How old (at receipt) an event may be and still start a flow that sets no `entryWindow`. */
export const DEFAULT_ENTRY_WINDOW = '1 day';

/** A live flow as routing reads it. */
export interface LiveFlow {
  flow: FlowDefinition;
  /** When the flow (last) became live. */
  liveSince: string;
  /**
   * Its event trigger was made by Parcours to route it (a date trigger's `Calendar Date Reached`,
   * an inactivity trigger's `Segment Entered`): its `where` picks the flow's own events, so an
   * event it does not pick was never meant for the flow and is not reported as refused.
   */
  derivedTrigger?: boolean;
}

/** What the rule reads of an event (a stored event has all of it). */
export interface TimedEvent {
  occurredAt: string;
  receivedAt: string;
  context: Record<string, unknown>;
}

/** Why time keeps an event out of a flow: it is history, or it happened before the flow was live. */
export interface TimeRefusal {
  kind: 'history' | 'before_live';
  reason: string;
}

/** The event was sent as history (`context.historical: true`, on the call or its batch). */
export const sentAsHistory = (event: Pick<TimedEvent, 'context'>): boolean => event.context.historical === true;

/** How long before its receipt the event happened (never negative: a client clock ahead of ours). */
const ageAtReceipt = (event: TimedEvent): number =>
  Math.max(0, Date.parse(event.receivedAt) - Date.parse(event.occurredAt));

export const entryWindowOf = (flow: Pick<FlowDefinition, 'entryWindow'>): string =>
  flow.entryWindow ?? DEFAULT_ENTRY_WINDOW;

/** Why the event's time keeps it out of the flow, or undefined when it may enter (other rules permitting). */
export function entryTimeRefusal(
  event: TimedEvent,
  live: Pick<LiveFlow, 'flow' | 'liveSince' | 'derivedTrigger'>,
): TimeRefusal | undefined {
  if (sentAsHistory(event))
    return { kind: 'history', reason: 'the event was sent as history (context.historical): it starts no flow' };
  const window = entryWindowOf(live.flow);
  // A derived trigger's events are Parcours's own, stamped at their due moment and caught up by
  // their own rules (the calendar catches up 24 hours): the entry window is for what shops send.
  if (!live.derivedTrigger && ageAtReceipt(event) > (parseDuration(window) ?? 0))
    return {
      kind: 'history',
      reason:
        `the event happened more than ${window} before it was received ` +
        "(the flow's entry window): stored as history",
    };
  if (Date.parse(event.occurredAt) < Date.parse(live.liveSince))
    return { kind: 'before_live', reason: `the event happened before the flow went live (${live.liveSince})` };
  return undefined;
}

/**
 * Whether the event is stored as history, as the ingestion answers say: sent as such, or older
 * than the entry window of every live flow its name could start (`flows`; with none, older than
 * the default entry window). An event that only a flow's go-live, a filter or a contact condition
 * keeps out is not history: the answer's `notEntered` says why.
 */
export function isHistory(event: TimedEvent, flows: readonly LiveFlow[]): boolean {
  if (sentAsHistory(event)) return true;
  if (flows.length === 0) return ageAtReceipt(event) > (parseDuration(DEFAULT_ENTRY_WINDOW) ?? 0);
  return flows.every((live) => entryTimeRefusal(event, live)?.kind === 'history');
}

/** True when no flow's entry window can make the event history: routing need not read the flows to say so. */
export const surelyFresh = (event: TimedEvent): boolean =>
  !sentAsHistory(event) && ageAtReceipt(event) < MIN_ENTRY_WINDOW_MS;

/**
 * Whether an event trigger lets this event start the flow, as far as the event itself says (the
 * contact's conditions, re-entry and the journey key are decided with the database after):
 * `undefined` when it may, `'not_for_flow'` when the event was never meant for the flow (a derived
 * trigger's `where`), else the refusal reported in the answer's `notEntered`.
 */
export function triggerRefusal(
  event: TimedEvent & { properties: Record<string, unknown> },
  live: LiveFlow,
  facts: Pick<Facts, 'now' | 'trigger'>,
): { reason: string; kind: TimeRefusal['kind'] | 'where' } | 'not_for_flow' | undefined {
  const { trigger } = live.flow;
  const where = 'event' in trigger ? (trigger.where ?? []) : [];
  const refused = where.find((c) => matchesAllProperties(event.properties, [c], facts) !== true);
  if (refused && live.derivedTrigger) return 'not_for_flow';
  const time = entryTimeRefusal(event, live);
  if (time) return time;
  if (refused)
    return { kind: 'where', reason: `the event does not match the trigger's where: ${describeCondition(refused)}` };
  return undefined;
}

const describeCondition = (c: PropertyCondition): string =>
  'value' in c ? `${c.property} ${c.op} ${JSON.stringify(c.value)}` : `${c.property} ${c.op}`;

/**
 * Whether a running journey is told the event: not when it is history (sent as such, or older than
 * the default entry window at receipt) from before the journey started, so an imported order of
 * last spring neither satisfies the wait nor the exit filter of a journey started today. A fresh
 * event is always told, whatever its timestamp says: a client clock a little ahead may have
 * stamped the journey's trigger after it, and an order must still end an abandoned cart.
 */
export function tellsJourney(event: TimedEvent, journeyStartedAt: string): boolean {
  const history = sentAsHistory(event) || ageAtReceipt(event) > (parseDuration(DEFAULT_ENTRY_WINDOW) ?? 0);
  return !history || Date.parse(event.occurredAt) >= Date.parse(journeyStartedAt);
}
