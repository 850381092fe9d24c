/**
 * Routing many stored events at once (a batch just stored, a pass of the router loop): each
 * contact's events strictly one after the other in id order (a checkout starts its journey
 * before the order that ends it is signalled), different contacts concurrently. Every event
 * goes through `routeStored`, the one router with its one retry discipline.
 *
 * Once an event of a contact is deferred, that contact's later events are not routed in this
 * pass: they are left for the router loop, which claims a contact's events only in order.
 * When Temporal goes down mid-way, the events not tried yet are left for the loop as well.
 */
import { markRoutingFailed, type StoredEvent } from '../db/events';
import { flowsOfPass } from './flows-of-pass';
import { routeStored, type RouteOptions, type RouterDeps, type RoutingOutcome } from './router';
import { temporalHealth } from './temporal-health';

/** Contacts routed at once by default: enough to hide Temporal's and Postgres's latency. */
export const DEFAULT_ROUTING_CONCURRENCY = 32;

export type RouteManyOptions = RouteOptions & { concurrency?: number };

const DEFERRED: RoutingOutcome = { routing: 'deferred' };

/** Routes `events`; the outcomes are in the order of `events`. Never throws for one event's failure. */
export async function routeStoredMany(deps: RouterDeps, events: StoredEvent[], opts: RouteManyOptions = {}): Promise<RoutingOutcome[]> {
  const { concurrency = DEFAULT_ROUTING_CONCURRENCY, ...routeOptions } = opts;
  const outcomes = new Array<RoutingOutcome>(events.length).fill(DEFERRED);
  const health = temporalHealth(deps.workflows);
  // Flows are looked up once per pass and name, not once per event.
  const passDeps: RouterDeps = { ...deps, flows: flowsOfPass(deps.db) };

  const byContact = new Map<string, number[]>();
  for (const [index, event] of events.entries()) {
    const indexes = byContact.get(event.contactId);
    if (indexes) indexes.push(index);
    else byContact.set(event.contactId, [index]);
  }
  const queues = [...byContact.values()].map((indexes) => indexes.sort((a, b) => events[a].id - events[b].id));

  let halted = false;
  const leaveForLoop = async (index: number, reason: string) => {
    // Due at once for the loop; it still routes this contact's events only in order.
    await markRoutingFailed(deps.db, events[index].id, reason, 0).catch((err: Error) => deps.log.warn({ err: err.message, eventId: events[index].id }, 'could not leave the event for the router loop; its lease will run out'));
  };

  const routeContact = async (indexes: number[]) => {
    for (const [position, index] of indexes.entries()) {
      if (halted) return void (await leaveRest(indexes.slice(position), 'Temporal unavailable (not tried)'));
      let outcome: RoutingOutcome;
      try {
        outcome = await routeStored(passDeps, events[index], routeOptions);
      } catch (err) {
        // Postgres failed under the router: the event keeps its lease and the loop takes it.
        deps.log.warn({ err: (err as Error).message, eventId: events[index].id }, 'routing failed; the event is left for the router loop');
        outcome = DEFERRED;
      }
      outcomes[index] = outcome;
      if (outcome.routing === 'done') continue;
      if (health.isDown()) halted = true;
      return void (await leaveRest(indexes.slice(position + 1), `waits for event ${events[index].id} of this contact to be routed first`));
    }
  };
  const leaveRest = async (indexes: number[], reason: string) => {
    for (const index of indexes) await leaveForLoop(index, reason);
  };

  let next = 0;
  const lane = async () => {
    while (next < queues.length) await routeContact(queues[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), queues.length) }, lane));
  return outcomes;
}
