/**
 * The one router: every stored fact (API events, engagement, profile changes made by steps)
 * reaches Temporal through `routeStored`, with one retry discipline (a failed pass leaves the
 * event unrouted; redelivery claims it again later).
 */
import type { Contact } from '../db/contacts';
import { markRouted, markRoutingFailed, type StoredEvent } from '../db/events';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { emptyRouting, routeEvent, routeProfileChange, type RoutingDeps, type RoutingResult } from './route-event';

export interface RouterDeps extends RoutingDeps {
  db: Db;
  log: Logger;
}

/** How long a request waits on Temporal before answering "deferred" (the event is stored either way). */
export const ROUTING_DEADLINE_MS = 5_000;

export interface RoutingOutcome {
  routing: 'done' | 'deferred';
  journeys?: RoutingResult;
}

/** Routes a stored event and records the outcome; used on ingest and by redelivery. */
export async function routeStored(deps: RouterDeps, event: StoredEvent): Promise<RoutingOutcome> {
  try {
    const journeys = await deps.workflows.withDeadline(Date.now() + ROUTING_DEADLINE_MS, () => route(deps, event));
    await markRouted(deps.db, event.id, journeys);
    return { routing: 'done', journeys };
  } catch (err) {
    deps.log.warn({ err: (err as Error).message, eventId: event.id }, 'routing deferred: the event is stored and will be routed again');
    await markRoutingFailed(deps.db, event.id, (err as Error).message).catch(() => undefined);
    return { routing: 'deferred' };
  }
}

function route(deps: RouterDeps, event: StoredEvent): Promise<RoutingResult> {
  if (event.type === 'track') return routeEvent(deps, event);
  const change = event.context.profileChange as { before: Contact | null; after: Contact } | undefined;
  return change ? routeProfileChange(deps, change.before ?? undefined, change.after, event) : Promise.resolve(emptyRouting());
}
