/**
 * Keeps live segments live as facts arrive: the router calls this for every stored event
 * after routing it. Only the segments that depend on the fact (the dependency index computed at
 * save) are re-evaluated, for the event's contact only, in one statement. A membership that
 * can now flip with time alone gets its clock (re)armed when the moment comes earlier than
 * what is armed. An error propagates: the router defers the event and routes it again, which
 * is safe (the stored membership decides; message ids are deterministic).
 */
import type { WorkflowClient } from '@temporalio/client';
import { needsClock, timeDirection } from '../audiences/segment-deps';
import type { StoredEvent } from '../db/events';
import type { Db } from '../db/pool';
import { evaluateContact, recordClockArmed, SEGMENT_ENTERED, SEGMENT_EXITED, segmentsDependingOn, type FactChange } from '../db/segments';
import { ContactIdAttribute, JOURNEY_TASK_QUEUE } from '../workflows/journey-identity';
import { segmentClockDueSignal, segmentClockWorkflowId, type segmentClockWorkflow, type SegmentClockInput } from '../workflows/segment-clock';

export interface SegmentUpkeepDeps {
  db: Db;
  workflows: WorkflowClient;
}

/** The names the audience helpers store their changes under (audiences.md). */
const LIST_EVENTS = new Set(['List Joined', 'List Left']);
const CONSENT_EVENTS = new Set(['Consent Changed']);

/** What kind of fact an event is, for the dependency index. */
export function factChangeOf(event: StoredEvent): FactChange {
  const traits = event.context.traits;
  const carriesTraits = event.type === 'identify' || (traits !== null && typeof traits === 'object' && Object.keys(traits).length > 0);
  if (event.type !== 'track' || !event.name) return { traits: carriesTraits };
  const segmentId = event.name === SEGMENT_ENTERED || event.name === SEGMENT_EXITED ? event.properties.segment_id : undefined;
  return {
    eventName: event.name,
    traits: carriesTraits,
    segmentId: typeof segmentId === 'string' ? segmentId : undefined,
    lists: LIST_EVENTS.has(event.name),
    consent: CONSENT_EVENTS.has(event.name),
  };
}

export async function keepSegmentsLive(deps: SegmentUpkeepDeps, event: StoredEvent): Promise<void> {
  // The later of the clock and the event's time: an event stamped ahead (or a test server's
  // skipped clock) is not counted as in the future.
  await upkeep(deps, factChangeOf(event), event.contactId, new Date(Math.max(Date.now(), Date.parse(event.occurredAt))), event.id);
}

async function upkeep(deps: SegmentUpkeepDeps, change: FactChange, contactId: string, now: Date, causeEventId?: number): Promise<void> {
  const segments = await segmentsDependingOn(deps.db, change);
  if (segments.length === 0) return;
  const results = await evaluateContact(deps.db, segments, contactId, now, 'event', causeEventId);
  const byId = new Map(segments.map((s) => [s.id, s]));
  for (const r of results) {
    // Only when time alone can change this membership (a non-member of "spent 500 this year" never gets in by waiting).
    if (!r.nextFlip || !needsClock(timeDirection(byId.get(r.segmentId)!.condition), r.member)) continue;
    const armed = r.armedAt && r.armedAt.getTime() > now.getTime() && r.armedAt.getTime() <= r.nextFlip.getTime();
    if (armed) continue;
    await armClock(deps, r.segmentId, contactId, r.nextFlip);
    await recordClockArmed(deps.db, r.segmentId, contactId, r.nextFlip);
  }
}

/** Starts the clock or brings its moment earlier (signalWithStart: "already running" is no error). */
export async function armClock(deps: Pick<SegmentUpkeepDeps, 'workflows'>, segmentId: string, contactId: string, dueAt: Date): Promise<void> {
  const input: SegmentClockInput = { segmentId, contactId, dueAt: dueAt.getTime() };
  await deps.workflows.signalWithStart<typeof segmentClockWorkflow, [{ dueAt: number }]>('segmentClockWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: segmentClockWorkflowId(segmentId, contactId),
    args: [input],
    signal: segmentClockDueSignal,
    signalArgs: [{ dueAt: input.dueAt }],
    typedSearchAttributes: [{ key: ContactIdAttribute, value: contactId }],
    memo: { segmentId },
    staticSummary: `Segment "${segmentId}" clock for contact ${contactId}`,
    staticDetails: `Re-evaluates contact ${contactId} for segment \`${segmentId}\` when its membership can change with time alone (first due ${dueAt.toISOString()}).`,
  });
}

/**
 * Every live segment for one contact: after facts moved onto it at once (an anonymous contact
 * merged into a known one, an import). Same rules as the per-event upkeep.
 */
export async function reevaluateContact(deps: SegmentUpkeepDeps, contactId: string): Promise<void> {
  await upkeep(deps, { every: true }, contactId, new Date());
}
