/**
 * The one router: every stored fact (API events, engagement, profile changes made by steps)
 * reaches Temporal through `routeStored`, with one retry discipline: a pass that fails for a
 * reason that will pass leaves the event unrouted (with a backoff) and the router loop claims
 * it again; what fails for good for one journey is recorded on the event and skipped.
 */
import type { Contact } from '../db/contacts';
import { markRouted, markRoutingFailed, type StoredEvent } from '../db/events';
import { releaseEntries } from '../db/journey-entries';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { keepSegmentsLive } from './segment-upkeep';
import { emptyRouting, routeEvent, routeProfileChange, type RoutingDeps, type RoutingResult } from './route-event';
import { isTemporalUnavailable } from './temporal-errors';
import { temporalHealth } from './temporal-health';

export interface RouterDeps extends RoutingDeps {
  db: Db;
  log: Logger;
}

/**
 * How long a request waits on Temporal before answering "deferred" (the event is stored
 * either way and the router loop routes it): a client never waits seconds on an outage.
 */
export const INLINE_ROUTING_DEADLINE_MS = 800;
/** The router loop has no one waiting: it gives Temporal longer. */
export const LOOP_ROUTING_DEADLINE_MS = 10_000;

export interface RoutingOutcome {
  routing: 'done' | 'deferred';
  journeys?: RoutingResult;
}

export interface RouteOptions {
  deadlineMs?: number;
  /** A request routing its own event: skip Temporal while it is known to be down. */
  inline?: boolean;
  /**
   * A pass routing a contact's events one after the other: the routed mark is not waited for
   * but added here, so the marks of the contact's events (and of the other contacts routed at
   * that moment) are written in one statement. The pass waits for them before it is done with
   * the contact; nothing reads a mark before that (the events are leased to the pass meanwhile).
   */
  marks?: Promise<void>[];
}

/** Routes a stored event and records the outcome on it; used on ingest and by the router loop. */
export async function routeStored(
  deps: RouterDeps,
  event: StoredEvent,
  opts: RouteOptions = {},
): Promise<RoutingOutcome> {
  const health = temporalHealth(deps.workflows);
  if (opts.inline && health.isDown()) {
    // Answer at once; the loop routes the event as soon as Temporal answers again.
    await markRoutingFailed(deps.db, event.id, 'Temporal unavailable (not tried)', 0);
    return { routing: 'deferred' };
  }
  const deadlineMs = opts.deadlineMs ?? (opts.inline ? INLINE_ROUTING_DEADLINE_MS : LOOP_ROUTING_DEADLINE_MS);
  const attempt = routeAndRecord(deps, event, deadlineMs, opts.marks);
  if (!opts.inline) return attempt;
  // The client's gRPC retries may sleep past the deadline before giving up: a request does not
  // wait for that. The attempt goes on in the background and records its own outcome.
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), deadlineMs + 100)));
  const first = await Promise.race([attempt, late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  health.markDown();
  return { routing: 'deferred' };
}

/** One routing pass under a gRPC deadline; never throws (a failure is recorded for a retry). */
async function routeAndRecord(
  deps: RouterDeps,
  event: StoredEvent,
  deadlineMs: number,
  marks?: Promise<void>[],
): Promise<RoutingOutcome> {
  const health = temporalHealth(deps.workflows);
  let journeys: RoutingResult;
  try {
    journeys = await deps.workflows.withDeadline(Date.now() + deadlineMs, async () => {
      const routed = await route(deps, event);
      // Segments depending on this fact, for this contact; a failure defers the event like routing.
      await keepSegmentsLive(deps, event);
      return routed;
    });
  } catch (err) {
    const message = (err as Error).message;
    if (isTemporalUnavailable(err)) health.markDown();
    deps.log.warn(
      { err: message, eventId: event.id },
      'routing deferred: the event is stored and will be routed again',
    );
    await releaseEntries(deps.db, event.id).catch(() => undefined);
    await markRoutingFailed(deps.db, event.id, message).catch(() => undefined);
    return { routing: 'deferred' };
  }
  const error = journeys.failed.length ? journeys.failed.map((f) => `${f.workflowId}: ${f.error}`).join('; ') : null;
  if (error)
    deps.log.warn({ eventId: event.id, failed: journeys.failed }, 'event routed, but some journeys could not take it');
  const marked = markRouted(deps.db, event.id, journeys, error).catch((err: Error) => {
    // Routed but not marked: the loop routes it again, which changes nothing (entries, seen ids).
    deps.log.warn({ err: err.message, eventId: event.id }, 'event routed, but its routed mark was not written');
  });
  if (marks) marks.push(marked);
  else await marked;
  return { routing: 'done', journeys };
}

/**
 * Track events (page and screen calls are stored as "Page Viewed" / "Screen Viewed" track
 * events, so they trigger and are filtered like any event) and identifies (profile changes)
 * route; group and alias calls are kept for the timeline and route nowhere.
 */
function route(deps: RouterDeps, event: StoredEvent): Promise<RoutingResult> {
  if (event.type === 'track') return routeEvent(deps, event);
  if (event.type !== 'identify') return Promise.resolve(emptyRouting());
  const change = event.context.profileChange as { before: Contact | null; after: Contact } | undefined;
  return change
    ? routeProfileChange(deps, change.before ?? undefined, change.after, event)
    : Promise.resolve(emptyRouting());
}
