/**
 * Telling a flow's running journeys about its status change: one workflow per flow
 * (`flow-status:<flow>`), started or signalled (signalWithStart) after the change commits with
 * its notice row. One activity at a time tells the journeys page by page, saving its progress
 * and heartbeating; only the newest status is told (a later change supersedes an unfinished
 * notice), so journeys never hear "paused" after "live". A change signalled while the activity
 * runs makes the workflow run it again; then the workflow ends, and the next change starts one.
 */
import { allHandlersFinished, condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { FlowStatusActivities } from '../activities/flow-status';

export interface FlowStatusInput {
  flowId: string;
  /** The notice that started the workflow. */
  noticeId: number;
}

/** A newer notice was committed for the flow. */
export const flowStatusChangedSignal = defineSignal<[{ noticeId: number }]>('flowStatusChanged');

export const flowStatusWorkflowId = (flowId: string) => `flow-status:${flowId}`;

const { tellFlowJourneys } = proxyActivities<FlowStatusActivities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function flowStatusWorkflow(input: FlowStatusInput): Promise<void> {
  let latest = input.noticeId;
  let told = 0;
  setHandler(flowStatusChangedSignal, ({ noticeId }) => {
    latest = Math.max(latest, noticeId);
  });
  while (told < latest) {
    const target = latest;
    // Reads the flow's newest pending notice itself: the signal only says there is one.
    await tellFlowJourneys({ flowId: input.flowId });
    told = target;
  }
  await condition(allHandlersFinished);
}
