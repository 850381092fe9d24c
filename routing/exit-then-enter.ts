/**
 * An event that both ends a contact's journey (a flow filter) and triggers the same flow again:
 * "Order Completed" in a flow triggered by Order Completed that exits on a later order. The
 * router signals first, but the journey takes a moment to exit; a start in that moment would
 * find the workflow id still taken and the entry decided "already in flow" for good, so the
 * flow silently stopped re-arming after the second order (issue 10). Here the router waits,
 * briefly, for that journey to end, then starts the new one; past the wait the event is left
 * to the router loop (the entry claim is released and the start tried again).
 */
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { getEvent } from '../db/events';
import { getFlowVersion } from '../db/flows';
import type { Queryable } from '../db/pool';
import { firstExit, exitRules } from '../flows/exits';
import type { EventFacts } from '../flows/conditions';
import type { FlowDefinition } from '../flows/schema';
import type { JourneyEvent } from '../flows/journey-messages';
import { RoutingDeferred } from './temporal-errors';

/** How long a routing pass waits for the journey the event is ending. */
export const ENDING_JOURNEY_WAIT_MS = 3_000;
const POLL_MS = 25;

/**
 * Whether one of the flow's exit rules holds on this event alone, for a journey started by
 * `runningTrigger` ("another order than the one that started it": `fromTrigger`).
 */
export function eventEndsJourney(flow: FlowDefinition, event: JourneyEvent, runningTrigger: EventFacts): boolean {
  return (
    firstExit(exitRules(flow), {
      now: Date.parse(event.timestamp),
      trigger: runningTrigger,
      journeyEvents: [event],
      events: [event],
    }) !== undefined
  );
}

/**
 * When the journey running under this id ends on this event (by the flow version it runs),
 * waits until its workflow is closed and answers true; false when it does not end on it.
 * Throws RoutingDeferred when it takes longer than the wait (the router loop routes it again).
 */
export async function awaitEndingJourney(
  deps: { db: Queryable; workflows: WorkflowClient },
  flow: FlowDefinition,
  workflowId: string,
  event: JourneyEvent,
  waitMs = ENDING_JOURNEY_WAIT_MS,
): Promise<boolean> {
  const handle = deps.workflows.getHandle(workflowId);
  const deadline = Date.now() + waitMs;
  let checked = false;
  for (;;) {
    let description: Awaited<ReturnType<typeof handle.describe>>;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return true;
      throw err;
    }
    if (description.status.name !== 'RUNNING') return true;
    if (!checked) {
      const memo = (await description.memo) as { flowVersion?: number; triggerEventId?: number } | undefined;
      if (memo?.flowVersion === undefined || memo.triggerEventId === undefined) return false;
      const running =
        memo.flowVersion === flow.version ? flow : await getFlowVersion(deps.db, flow.id, memo.flowVersion);
      const trigger = await getEvent(deps.db, memo.triggerEventId);
      if (
        !running ||
        !trigger ||
        !eventEndsJourney(running, event, {
          name: trigger.name ?? '',
          properties: trigger.properties,
          timestamp: trigger.occurredAt,
        })
      )
        return false;
      checked = true;
    }
    if (Date.now() > deadline)
      throw new RoutingDeferred(`journey ${workflowId} is ending on this event; the new entry waits for it`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
