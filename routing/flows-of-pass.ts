/**
 * The live flows a routing pass looks at. Routing one event reads them from Postgres; a pass
 * over many events (a batch, a pass of the router loop) reads each list once: a flow edited
 * during a pass of a second or so is seen by the next pass, as it would be by a request that
 * raced the edit.
 */
import { asEntryFlow, CALENDAR_DATE_REACHED, isCalendarTriggered } from '../flows/date-triggers';
import { listFlows, liveFlowsTriggeredBy, liveProfileTriggeredFlows } from '../db/flows';
import { liveInactivityFlows } from '../db/inactivity-flows';
import type { Queryable } from '../db/pool';
import { SEGMENT_ENTERED } from '../db/segments';
import { effectiveFlow } from '../flows/inactivity';
import type { FlowDefinition } from '../flows/schema';

export interface LiveFlows {
  triggeredBy(eventName: string): Promise<FlowDefinition[]>;
  profileTriggered(): Promise<FlowDefinition[]>;
}

export function liveFlowsNow(db: Queryable): LiveFlows {
  return {
    triggeredBy: (name) => (name === CALENDAR_DATE_REACHED ? liveCalendarFlows(db) : triggeredBy(db, name)),
    profileTriggered: () => liveProfileTriggeredFlows(db),
  };
}

/** Inactivity flows start on their system segment's Segment Entered, in their effective form. */
async function triggeredBy(db: Queryable, name: string): Promise<FlowDefinition[]> {
  const flows = await liveFlowsTriggeredBy(db, name);
  if (name !== SEGMENT_ENTERED) return flows;
  return [...flows, ...(await liveInactivityFlows(db)).map(effectiveFlow)];
}

/** Date-triggered flows, as flows triggered by their own `Calendar Date Reached` events (flows/date-triggers.ts). */
async function liveCalendarFlows(db: Queryable): Promise<FlowDefinition[]> {
  const flows: FlowDefinition[] = [];
  for (const { createdAt: _c, updatedAt: _u, ...flow } of await listFlows(db))
    if (flow.status === 'live' && isCalendarTriggered(flow)) flows.push(asEntryFlow(flow));
  return flows;
}

export function flowsOfPass(db: Queryable): LiveFlows {
  const now = liveFlowsNow(db);
  const cache = new Map<string, Promise<FlowDefinition[]>>();
  const once = (key: string, load: () => Promise<FlowDefinition[]>) => {
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
