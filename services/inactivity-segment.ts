/**
 * Saving or activating a flow with an inactivity trigger keeps its system segment
 * (flows/inactivity.ts) through the ordinary segment functions: created and built over the
 * existing base by its build workflow if it does not exist. Contacts the build finds already lapsed
 * are members from the start without a Segment Entered event (worker/segment-build-activities.ts), so they
 * are not entered: a contact enters at a lapse that happens while the flow is live.
 */
import { getSegment } from '../db/segments';
import {
  inactivityOf,
  inactivitySegmentCondition,
  inactivitySegmentId,
  inactivitySegmentName,
} from '../flows/inactivity';
import type { FlowDefinition } from '../flows/schema';
import { startSegmentBuild, type BuildDeps } from './segment-build';
import { insertSegmentOverBase } from './segments';

/** The system segment's id when the flow has an inactivity trigger (created if missing). */
export async function ensureInactivitySegment(
  deps: BuildDeps,
  flow: Pick<FlowDefinition, 'trigger'>,
): Promise<string | undefined> {
  const t = inactivityOf(flow);
  if (!t) return undefined;
  const id = inactivitySegmentId(t);
  const existing = await getSegment(deps.db, id);
  // Still building: its build was not started (Temporal was down) or runs; start or keep it.
  if (existing?.status === 'building') await startSegmentBuild(deps.workflows, id, false);
  if (existing) return id;
  const segment = await insertSegmentOverBase(deps.db, {
    id,
    name: inactivitySegmentName(t),
    condition: inactivitySegmentCondition(t),
  });
  // Undefined: another request created it a moment ago, and builds it.
  if (segment) await startSegmentBuild(deps.workflows, id, true);
  return id;
}
