/** Live flows with an inactivity trigger (flows/inactivity.ts): they start on Segment Entered. */
import { withDefaults } from '../flows/defaults';
import type { FlowDefinition, FlowStatus } from '../flows/schema';
import type { Queryable } from './pool';

export async function liveInactivityFlows(q: Queryable): Promise<FlowDefinition[]> {
  const { rows } = await q.query<{ definition: FlowDefinition; status: FlowStatus }>(
    "SELECT definition, status FROM flows WHERE status = 'live' AND definition->'trigger'->'inactivity' IS NOT NULL ORDER BY id",
  );
  // The status lives on the flow, not its versions (as db/flows.ts reads it).
  return rows.map((r) => ({ ...withDefaults(r.definition), status: r.status }));
}
