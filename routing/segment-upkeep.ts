/**
 * Keeps live segments live as facts arrive: the router calls this for every stored event
 * after routing it. Only the segments that depend on the fact (the dependency index computed at
 * save) are re-evaluated, for the event's contact only, in one statement. A membership that
 * can now flip with time alone gets its clock (re)armed when the moment comes earlier than
 * what is armed. An error propagates: the router defers the event and routes it again, which
 * is safe (the stored membership decides; message ids are deterministic).
 */
import type { WorkflowClient } from '@temporalio/client';
import type { StoredEvent } from '../db/events';
import type { Db } from '../db/pool';
import { armedClock, clockDue, evaluateContact, recordClockArmed, SEGMENT_ENTERED, SEGMENT_EXITED, segmentsDependingOn, type FactChange } from '../db/segments';
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
  // An alias or identify that merged another contact into this one: its events, traits, lists
  // and consent arrived at once, so every live segment may have changed.
  if (event.context.mergedFrom !== undefined) return { every: true };
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
  // Only when waiting can change a membership, and only when that comes earlier than the
  // contact's armed clock (which answers for all its time-based segments when it wakes).
  const due = clockDue(segments, results);
  if (!due) return;
  const armed = await armedClock(deps.db, contactId);
  if (armed && armed.getTime() > now.getTime() && armed.getTime() <= due.getTime()) return;
  await armClock(deps, contactId, due);
  await recordClockArmed(deps.db, contactId, due);
}

/** Starts the clock or brings its moment earlier (signalWithStart: "already running" is no error). */
export async function armClock(deps: Pick<SegmentUpkeepDeps, 'workflows'>, contactId: string, dueAt: Date): Promise<void> {
  const input: SegmentClockInput = { contactId, dueAt: dueAt.getTime() };
  await deps.workflows.signalWithStart<typeof segmentClockWorkflow, [{ dueAt: number }]>('segmentClockWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: segmentClockWorkflowId(contactId),
    args: [input],
    signal: segmentClockDueSignal,
    signalArgs: [{ dueAt: input.dueAt }],
    typedSearchAttributes: [{ key: ContactIdAttribute, value: contactId }],
    staticSummary: `Segment clock for contact ${contactId}`,
    staticDetails: `Re-evaluates contact ${contactId} for its time-based segments when a membership can change with time alone (first due ${dueAt.toISOString()}).`,
  });
}

/**
 * Every live segment for one contact: after facts moved onto it at once (an anonymous contact
 * merged into a known one, an import). Same rules as the per-event upkeep.
 */
export async function reevaluateContact(deps: SegmentUpkeepDeps, contactId: string): Promise<void> {
  await upkeep(deps, { every: true }, contactId, new Date());
}
