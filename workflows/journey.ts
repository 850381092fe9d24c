/**
 * One contact's journey through one flow version: orchestration only. Steps run in graph
 * order; delays are timers; the contact's events arrive as signals and end the journey as
 * soon as a flow filter matches; every side effect is an activity.
 */
import { setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { firstMatchingExit } from '../flows/conditions';
import { nextStepId } from '../flows/graph';
import type { Step } from '../flows/schema';
import { bookkeeping, bookkeepingOptions } from './activities';
import { contactEventSignal, journeyStateQuery, type JourneyExit, type JourneyInput, type JourneyResult, type JourneyState } from './messages';
import type { StepContext } from './steps/context';
import { runDelay } from './steps/delay';
import { runSend } from './steps/send';

export async function journeyWorkflow(input: JourneyInput): Promise<JourneyResult> {
  const { flow, contactId, trigger } = input;
  const info = workflowInfo();
  const state: JourneyState = { flowId: flow.id, flowVersion: flow.version, contactId, status: 'running', steps: [] };
  const ctx: StepContext = {
    input,
    state,
    journey: { runId: info.runId, workflowId: info.workflowId, flowId: flow.id, flowVersion: flow.version, contactId, startedAt: trigger.timestamp },
  };

  setHandler(journeyStateQuery, () => state);
  setHandler(contactEventSignal, (event) => {
    if (state.exit) return;
    const filter = firstMatchingExit(event, flow.exitWhen, trigger.timestamp);
    if (filter) state.exit = { reason: 'flow_filter', filter, event: { id: event.id, name: event.name, timestamp: event.timestamp }, detectedBy: 'signal' };
  });

  const indexById = new Map(flow.steps.map((s, i) => [s.id, i]));
  for (let index: number | undefined = 0; index !== undefined && !state.exit; ) {
    const step = flow.steps[index];
    state.currentStep = step.id;
    describe(state, step);
    const { outcome, messageId } = await runStep(step, ctx);
    state.steps.push({ stepId: step.id, type: step.type, outcome, at: new Date().toISOString(), ...(messageId ? { messageId } : {}) });
    const next = nextStepId(flow.steps, index);
    index = next === undefined ? undefined : indexById.get(next);
  }

  state.status = state.exit ? 'exited' : 'completed';
  describe(state);
  const summary = `journey ${state.status}${state.exit ? `: ${exitSummary(state.exit)}` : ''}`;
  await bookkeeping.recordJourneyEnd.executeWithOptions({ ...bookkeepingOptions, summary }, [
    { journey: ctx.journey, status: state.status, exit: state.exit ?? null, currentStep: state.currentStep ?? null },
  ]);
  return { status: state.status, exit: state.exit, steps: state.steps };
}

async function runStep(step: Step, ctx: StepContext): Promise<{ outcome: string; messageId?: string }> {
  switch (step.type) {
    case 'delay':
      return { outcome: await runDelay(step, ctx) };
    case 'email':
    case 'sms':
      return runSend(step, ctx);
    case 'exit':
      ctx.state.exit = { reason: 'exit_step', stepId: step.id, ...(step.reason ? { detail: step.reason } : {}) };
      return { outcome: 'exit' };
  }
}

function exitSummary(exit: JourneyExit): string {
  return exit.reason === 'flow_filter'
    ? `flow filter "${exit.filter.event}" matched event ${exit.event.id} (${exit.detectedBy === 'signal' ? 'signal' : 'checked before sending'})`
    : `exit step "${exit.stepId}"${exit.detail ? ` (${exit.detail})` : ''}`;
}

/** Live status in the Temporal UI ("Current details"), for support reading one journey. */
function describe(state: JourneyState, step?: Step): void {
  const lines = [`**${state.flowId}** v${state.flowVersion} for contact \`${state.contactId}\`: ${state.status}`];
  if (step) lines.push(`Current step: \`${step.id}\` (${step.type}${step.type === 'delay' ? ` ${step.duration}` : ''})`);
  if (state.exit) lines.push(`Exited: ${exitSummary(state.exit)}`);
  setCurrentDetails(lines.join('\n\n'));
}
