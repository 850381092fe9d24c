/** Live flows with an inactivity trigger (flows/inactivity.ts): they start on Segment Entered. */
import { withDefaults } from '../flows/defaults';
import { inactivityOf, inactivitySegmentId } from '../flows/inactivity';
import type { LiveFlow } from '../flows/entry-time';
import type { FlowDefinition, FlowStatus } from '../flows/schema';
import type { Queryable } from './pool';

export async function liveInactivityFlows(q: Queryable): Promise<LiveFlow[]> {
  const { rows } = await q.query<{ definition: FlowDefinition; status: FlowStatus; live_since: Date }>(
    `SELECT definition, status, coalesce(live_since, updated_at) AS live_since FROM flows
     WHERE status = 'live' AND definition->'trigger'->'inactivity' IS NOT NULL ORDER BY id`,
  );
  // The status lives on the flow, not its versions (as db/flows.ts reads it).
  return rows.map((r) => ({
    flow: { ...withDefaults(r.definition), status: r.status },
    liveSince: r.live_since.toISOString(),
  }));
}

/**
 * Flows (not archived) whose inactivity trigger keeps the system segment `segmentId`: deleting
 * it would stop a live one silently, and a paused or draft one would lose its members' clocks.
 */
export async function flowsKeepingInactivitySegment(q: Queryable, segmentId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string; definition: FlowDefinition }>(
    "SELECT id, definition FROM flows WHERE status <> 'archived' AND definition->'trigger'->'inactivity' IS NOT NULL ORDER BY id",
  );
  return rows
    .filter((r) => {
      const t = inactivityOf(withDefaults(r.definition));
      return t !== undefined && inactivitySegmentId(t) === segmentId;
    })
    .map((r) => r.id);
}
