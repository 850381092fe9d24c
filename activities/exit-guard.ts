import { eventsListenedTo, firstMatchingExit } from '../flows/conditions';
import type { EventCondition } from '../flows/schema';
import { eventsSince } from '../db/events';
import type { Queryable } from '../db/pool';

export interface ExitMatch {
  filter: EventCondition;
  event: { id: number; name: string; timestamp: string };
}

/**
 * The flow filters checked against stored events: the ground truth behind the signals.
 * Events are stored before they are routed, so whatever reached the API before this query
 * is seen here, even when its signal raced the journey's start.
 */
export async function findExitEvent(q: Queryable, contactId: string, exitWhen: EventCondition[], since: string): Promise<ExitMatch | undefined> {
  const candidates = await eventsSince(q, contactId, eventsListenedTo(exitWhen), since);
  for (const e of candidates) {
    const facts = { name: e.name ?? '', properties: e.properties, timestamp: e.occurredAt };
    const filter = firstMatchingExit(facts, exitWhen, since);
    if (filter) return { filter, event: { id: e.id, name: facts.name, timestamp: e.occurredAt } };
  }
  return undefined;
}
