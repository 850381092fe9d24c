/**
 * Routing a stored track event to Temporal: signal the contact's running journeys that
 * listen to it, then start a journey for every live flow it triggers. Safe to run again for
 * the same event (redelivery): a running journey is never started twice.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { eventsListenedTo, matchesAllProperties } from '../../flows/conditions';
import type { FlowDefinition } from '../../flows/schema';
import type { StoredEvent } from '../../db/events';
import { getFlowVersion, liveFlowsTriggeredBy } from '../../db/flows';
import { hasRunningJourney, recordJourneyStart, runningJourneysListeningTo } from '../../db/journeys';
import type { Queryable } from '../../db/pool';
import { ContactIdAttribute, FlowIdAttribute, JOURNEY_TASK_QUEUE, journeyWorkflowId } from '../../workflows/journey-identity';
import { contactEventSignal, type JourneyEvent, type JourneyInput } from '../../workflows/messages';
import type { journeyWorkflow } from '../../workflows/journey';

export interface RoutingDeps {
  db: Queryable;
  workflows: WorkflowClient;
}

export interface RoutingResult {
  started: { flowId: string; flowVersion: number; workflowId: string; runId: string }[];
  alreadyInFlow: { flowId: string; workflowId: string }[];
  signalled: { flowId: string; workflowId: string }[];
}

export function toJourneyEvent(event: StoredEvent): JourneyEvent {
  return { id: event.id, messageId: event.messageId, name: event.name ?? '', properties: event.properties, timestamp: event.occurredAt };
}

export async function routeEvent(deps: RoutingDeps, event: StoredEvent): Promise<RoutingResult> {
  const result: RoutingResult = { started: [], alreadyInFlow: [], signalled: [] };
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

  const flows = await liveFlowsTriggeredBy(deps.db, event.name);
  for (const flow of flows.filter((f) => matchesAllProperties(event.properties, f.trigger.where))) {
    const started = await startJourney(deps, flow, event, journeyEvent);
    if (started) result.started.push(started);
    else result.alreadyInFlow.push({ flowId: flow.id, workflowId: journeyWorkflowId(flow.id, event.contactId) });
  }
  return result;
}

/** Everything Temporal is told when a journey starts: id policy, search attributes, UI texts. */
export function journeyStartOptions(flow: FlowDefinition, contactId: string, trigger: JourneyEvent) {
  const input: JourneyInput = { v: 1, flow, contactId, trigger };
  return {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: journeyWorkflowId(flow.id, contactId),
    args: [input] as [JourneyInput],
    // One journey per flow and contact at a time; a finished one may be entered again.
    workflowIdConflictPolicy: 'FAIL' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: ContactIdAttribute, value: contactId },
      { key: FlowIdAttribute, value: flow.id },
    ],
    memo: { flowName: flow.name, flowVersion: flow.version, triggerEventId: trigger.id, triggerTimestamp: trigger.timestamp } satisfies JourneyMemo,
    staticSummary: `${flow.name} (v${flow.version}) for contact ${contactId}`,
    staticDetails: [
      `Flow **${flow.name}** \`${flow.id}\` version ${flow.version}`,
      `Triggered by **${trigger.name}** (event ${trigger.id}, messageId \`${trigger.messageId}\`) at ${trigger.timestamp}`,
      flow.exitWhen.length ? `Exits when: ${flow.exitWhen.map((f) => f.event).join(', ')}` : 'No flow filters',
    ].join('\n\n'),
  };
}

async function startJourney(deps: RoutingDeps, flow: FlowDefinition, event: StoredEvent, trigger: JourneyEvent) {
  const options = journeyStartOptions(flow, event.contactId, trigger);
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
      listensTo: eventsListenedTo(flow.exitWhen),
      startedAt: trigger.timestamp,
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
    listensTo: eventsListenedTo(flow?.exitWhen ?? []),
    startedAt: memo.triggerTimestamp ?? description.startTime.toISOString(),
  });
}
