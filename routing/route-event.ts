/**
 * Routing a stored event to Temporal: signal the contact's running journeys that listen to
 * it, then start a journey for every live flow it lets the contact enter. Safe to run again
 * for the same event (redelivery): a running journey is never started twice.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { loadFacts, profileOf } from '../activities/facts';
import type { Contact } from '../db/contacts';
import type { StoredEvent } from '../db/events';
import { getFlowVersion, liveFlowsTriggeredBy, liveProfileTriggeredFlows } from '../db/flows';
import { hasRunningJourney, lastJourneyStart, recordJourneyStart, runningJourneysListeningTo } from '../db/journeys';
import type { Queryable } from '../db/pool';
import { evaluate, matchesAllProperties, readPath } from '../flows/conditions';
import { parseDuration } from '../flows/duration';
import { eventsListenedTo } from '../flows/exits';
import type { FlowDefinition } from '../flows/schema';
import { ContactIdAttribute, FlowIdAttribute, JOURNEY_TASK_QUEUE, journeyWorkflowId } from '../workflows/journey-identity';
import type { journeyWorkflow } from '../workflows/journey';
import { contactEventSignal, type JourneyEvent, type JourneyInput } from '../workflows/messages';

export interface RoutingDeps {
  db: Queryable;
  workflows: WorkflowClient;
}

export interface RoutingResult {
  started: { flowId: string; flowVersion: number; workflowId: string; runId: string }[];
  alreadyInFlow: { flowId: string; workflowId: string }[];
  /** Flows whose trigger matched but whose entry rules kept the contact out, with the reason. */
  notEntered: { flowId: string; reason: string }[];
  signalled: { flowId: string; workflowId: string }[];
}

export const emptyRouting = (): RoutingResult => ({ started: [], alreadyInFlow: [], notEntered: [], signalled: [] });

/** Identify calls have no event name: journeys (and templates) see them as "Profile Updated". */
export function toJourneyEvent(event: StoredEvent): JourneyEvent {
  return { id: event.id, messageId: event.messageId, name: event.name ?? 'Profile Updated', properties: event.properties, timestamp: event.occurredAt };
}

export async function routeEvent(deps: RoutingDeps, event: StoredEvent): Promise<RoutingResult> {
  const result = emptyRouting();
  if (event.type !== 'track' || !event.name) return result;
  const journeyEvent = toJourneyEvent(event);

  // Signal first, so a journey started below never receives its own trigger.
  for (const journey of await runningJourneysListeningTo(deps.db, event.contactId, event.name)) {
    try {
      await deps.workflows.getHandle(journey.workflowId, journey.runId).signal(contactEventSignal, journeyEvent);
      result.signalled.push({ flowId: journey.flowId, workflowId: journey.workflowId });
    } catch (err) {
      // Finished since the row was read: the journey no longer needs the event.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  const now = Date.parse(event.occurredAt);
  for (const flow of await liveFlowsTriggeredBy(deps.db, event.name)) {
    if (!('event' in flow.trigger)) continue;
    if (matchesAllProperties(event.properties, flow.trigger.where, { now, trigger: journeyEvent }) !== true) continue;
    await enter(deps, flow, event, journeyEvent, result);
  }
  return result;
}

/**
 * Profile-change triggers: a flow is entered when its condition goes from not true (before)
 * to true (after), so a lead score reaching 50 enters once per crossing.
 */
export async function routeProfileChange(deps: RoutingDeps, before: Contact | undefined, after: Contact, event: StoredEvent): Promise<RoutingResult> {
  const result = emptyRouting();
  const now = Date.parse(event.occurredAt);
  for (const flow of await liveProfileTriggeredFlows(deps.db)) {
    if (!('profileChange' in flow.trigger)) continue;
    const condition = flow.trigger.profileChange;
    const was = evaluate(condition, { now, profile: profileOf(before), events: [] });
    const is = evaluate(condition, { now, profile: profileOf(after), events: [] });
    if (was !== true && is === true) await enter(deps, flow, event, toJourneyEvent(event), result);
  }
  return result;
}

/** Entry rules (contact conditions, re-entry, journey key), then the start. */
async function enter(deps: RoutingDeps, flow: FlowDefinition, event: StoredEvent, trigger: JourneyEvent, result: RoutingResult): Promise<void> {
  const refusal = await entryRefusal(deps.db, flow, event, trigger);
  if (refusal) {
    result.notEntered.push({ flowId: flow.id, reason: refusal });
    return;
  }
  const key = flow.journeyKey ? String(readPath(trigger.properties, flow.journeyKey)) : undefined;
  const started = await startJourney(deps, flow, event, trigger, key);
  if (started) result.started.push(started);
  else result.alreadyInFlow.push({ flowId: flow.id, workflowId: journeyWorkflowId(flow.id, event.contactId, key) });
}

async function entryRefusal(db: Queryable, flow: FlowDefinition, event: StoredEvent, trigger: JourneyEvent): Promise<string | undefined> {
  if (flow.journeyKey && readPath(trigger.properties, flow.journeyKey) === undefined) {
    return `the trigger has no "${flow.journeyKey}" (the journey key)`;
  }
  if ('event' in flow.trigger && flow.trigger.contact) {
    // Counted over the contact's whole history (no journey yet): "has never ordered".
    const facts = await loadFacts(db, event.contactId, [flow.trigger.contact], { now: Date.parse(event.occurredAt) });
    if (evaluate(flow.trigger.contact, facts) !== true) return 'the contact does not meet the trigger conditions';
  }
  const reentry = flow.reentry ?? { mode: 'when_not_in_flow' };
  if (reentry.mode !== 'when_not_in_flow') {
    const key = flow.journeyKey ? String(readPath(trigger.properties, flow.journeyKey)) : undefined;
    const last = await lastJourneyStart(db, flow.id, event.contactId, key);
    if (last !== undefined && reentry.mode === 'once') return 'the contact was in this flow before (re-entry: once)';
    if (last !== undefined && reentry.mode === 'once_per' && Date.parse(event.occurredAt) - last < (parseDuration(reentry.period) ?? 0)) {
      return `the contact entered this flow less than ${reentry.period} ago`;
    }
  }
  return undefined;
}

/** Everything Temporal is told when a journey starts: id policy, search attributes, UI texts. */
export function journeyStartOptions(flow: FlowDefinition, contactId: string, trigger: JourneyEvent, journeyKey?: string) {
  const input: JourneyInput = { v: 1, flow, contactId, trigger, ...(journeyKey === undefined ? {} : { journeyKey }) };
  return {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: journeyWorkflowId(flow.id, contactId, journeyKey),
    args: [input] as [JourneyInput],
    // One journey per flow and contact (and key) at a time; a finished one may be entered again.
    workflowIdConflictPolicy: 'FAIL' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: ContactIdAttribute, value: contactId },
      { key: FlowIdAttribute, value: flow.id },
    ],
    memo: { flowName: flow.name, flowVersion: flow.version, triggerEventId: trigger.id, triggerTimestamp: trigger.timestamp, ...(journeyKey === undefined ? {} : { journeyKey }) } satisfies JourneyMemo,
    staticSummary: `${flow.name} (v${flow.version}) for contact ${contactId}${journeyKey === undefined ? '' : ` [${journeyKey}]`}`,
    staticDetails: [
      `Flow **${flow.name}** \`${flow.id}\` version ${flow.version}`,
      `Triggered by **${trigger.name}** (event ${trigger.id}, messageId \`${trigger.messageId}\`) at ${trigger.timestamp}`,
      flow.exitWhen.length ? `Exits when: ${flow.exitWhen.map((f) => JSON.stringify(f)).join('; ')}` : 'No flow filters',
    ].join('\n\n'),
  };
}

async function startJourney(deps: RoutingDeps, flow: FlowDefinition, event: StoredEvent, trigger: JourneyEvent, journeyKey?: string) {
  const options = journeyStartOptions(flow, event.contactId, trigger, journeyKey);
  const { workflowId } = options;
  try {
    const handle = await deps.workflows.start<typeof journeyWorkflow>('journeyWorkflow', options);
    await recordJourneyStart(deps.db, {
      runId: handle.firstExecutionRunId,
      workflowId,
      flowId: flow.id,
      flowVersion: flow.version,
      contactId: event.contactId,
      triggerEventId: event.id,
      listensTo: eventsListenedTo(flow),
      startedAt: trigger.timestamp,
      journeyKey: journeyKey ?? null,
    });
    return { flowId: flow.id, flowVersion: flow.version, workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    await recordJourneyIfMissing(deps, flow.id, workflowId, event.contactId);
    return undefined;
  }
}

interface JourneyMemo {
  flowName: string;
  flowVersion: number;
  triggerEventId: number;
  triggerTimestamp: string;
  journeyKey?: string;
}

/**
 * A journey that runs without its row (the start went through but its answer was lost to a
 * deadline or a crash) would never be signalled: recover the row from Temporal.
 */
async function recordJourneyIfMissing(deps: RoutingDeps, flowId: string, workflowId: string, contactId: string): Promise<void> {
  if (await hasRunningJourney(deps.db, workflowId)) return;
  const description = await deps.workflows.getHandle(workflowId).describe();
  if (description.status.name !== 'RUNNING') return;
  const memo = (await description.memo) as Partial<JourneyMemo> | undefined;
  if (memo?.flowVersion === undefined || memo.triggerEventId === undefined) return;
  const flow = await getFlowVersion(deps.db, flowId, memo.flowVersion);
  await recordJourneyStart(deps.db, {
    runId: description.runId,
    workflowId,
    flowId,
    flowVersion: memo.flowVersion,
    contactId,
    triggerEventId: memo.triggerEventId,
    listensTo: flow ? eventsListenedTo(flow) : [],
    startedAt: memo.triggerTimestamp ?? description.startTime.toISOString(),
    journeyKey: memo.journeyKey ?? null,
  });
}
