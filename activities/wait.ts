/**
 * The wait_for_event step's last look before it times out: did the awaited event happen
 * since the wait began, according to the stored events? Events are stored before they are
 * routed, so one whose signal is late or lost (a Temporal outage, a crash between storing and
 * routing) is found here.
 */
import { eventsSince } from '../db/events';
import type { Queryable } from '../db/pool';
import { matchesAllProperties, type EventFacts } from '../flows/conditions';
import type { PropertyCondition } from '../flows/schema';

export interface StoredEventQuery {
  contactId: string;
  event: string;
  where?: PropertyCondition[];
  /** When the wait began (workflow time, ISO-8601). */
  since: string;
  /** The journey's trigger (for `fromTrigger` comparisons). */
  trigger: EventFacts;
  /** Workflow time, ms. */
  now: number;
}

export type StoredEventAnswer =
  | { found: true; event: { id: number; name: string; timestamp: string } }
  | { found: false };

export async function findStoredEvent(db: Queryable, q: StoredEventQuery): Promise<StoredEventAnswer> {
  const candidates = await eventsSince(db, q.contactId, [q.event], q.since);
  const facts = { now: Math.max(q.now, Date.now()), trigger: q.trigger };
  const match = candidates.find((e) => matchesAllProperties(e.properties, q.where, facts) === true);
  return match
    ? { found: true, event: { id: match.id, name: q.event, timestamp: match.occurredAt } }
    : { found: false };
}
