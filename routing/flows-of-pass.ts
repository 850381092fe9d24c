/**
 * The live flows a routing pass looks at. Routing one event reads them from Postgres; a pass
 * over many events (a batch, a pass of the router loop) reads each list once: a flow edited
 * during a pass of a second or so is seen by the next pass, as it would be by a request that
 * raced the edit.
 */
import { asEntryFlow, CALENDAR_DATE_REACHED, isCalendarTriggered } from '../flows/date-triggers';
import { listFlows, liveFlowsTriggeredBy, liveProfileTriggeredFlows } from '../db/flows';
import { liveInactivityFlows } from '../db/inactivity-flows';
import type { StoredEvent } from '../db/events';
import type { Queryable } from '../db/pool';
import { SEGMENT_ENTERED } from '../db/segments';
import { isHistory, surelyFresh, type LiveFlow } from '../flows/entry-time';
import { effectiveFlow } from '../flows/inactivity';

/** Each live flow with when it became live (an event from before it starts no journey: flows/entry-time.ts). */
export interface LiveFlows {
  triggeredBy(eventName: string): Promise<LiveFlow[]>;
  profileTriggered(): Promise<LiveFlow[]>;
}

export function liveFlowsNow(db: Queryable): LiveFlows {
  return {
    triggeredBy: (name) => (name === CALENDAR_DATE_REACHED ? liveCalendarFlows(db) : triggeredBy(db, name)),
    profileTriggered: () => liveProfileTriggeredFlows(db),
  };
}

/** Inactivity flows start on their system segment's Segment Entered, in their effective form. */
async function triggeredBy(db: Queryable, name: string): Promise<LiveFlow[]> {
  const flows = await liveFlowsTriggeredBy(db, name);
  if (name !== SEGMENT_ENTERED) return flows;
  const inactivity = await liveInactivityFlows(db);
  return [...flows, ...inactivity.map((live) => ({ ...live, flow: effectiveFlow(live.flow), derivedTrigger: true }))];
}

/** Date-triggered flows, as flows triggered by their own `Calendar Date Reached` events (flows/date-triggers.ts). */
async function liveCalendarFlows(db: Queryable): Promise<LiveFlow[]> {
  const flows: LiveFlow[] = [];
  for (const { createdAt: _c, updatedAt, liveSince, ...flow } of await listFlows(db))
    if (flow.status === 'live' && isCalendarTriggered(flow))
      flows.push({ flow: asEntryFlow(flow), liveSince: liveSince ?? updatedAt, derivedTrigger: true });
  return flows;
}

export function flowsOfPass(db: Queryable): LiveFlows {
  const now = liveFlowsNow(db);
  const cache = new Map<string, Promise<LiveFlow[]>>();
  const once = (key: string, load: () => Promise<LiveFlow[]>) => {
    let flows = cache.get(key);
    if (!flows) {
      flows = load();
      cache.set(key, flows);
      // A failed read is not kept: the next event of the pass reads again.
      flows.catch(() => cache.delete(key));
    }
    return flows;
  };
  return {
    triggeredBy: (name) => once(`event:${name}`, () => now.triggeredBy(name)),
    profileTriggered: () => once('profile', () => now.profileTriggered()),
  };
}

/**
 * Whether a stored event is history (flows/entry-time.ts isHistory), read against the live flows
 * its type and name could start: what the ingestion answers tell the caller. An event young enough
 * that no entry window makes it history reads no flow.
 */
export async function historyOf(flows: LiveFlows, event: StoredEvent): Promise<boolean> {
  if (surelyFresh(event)) return false;
  if (event.type === 'track' && event.name) return isHistory(event, await flows.triggeredBy(event.name));
  if (event.type === 'identify') return isHistory(event, await flows.profileTriggered());
  return isHistory(event, []);
}
