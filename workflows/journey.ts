/**
 * One contact's journey through one flow version: orchestration only. Steps run in graph
 * order; delays and waits are timers; the contact's events arrive as signals and end the
 * journey as soon as an exit holds; every side effect is an activity.
 */
import {
  allHandlersFinished,
  condition,
  makeContinueAsNewFunc,
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { withDefaults } from '../flows/defaults';
import { exitRules, firstExit } from '../flows/exits';
import { nextStepId } from '../flows/graph';
import type { Step } from '../flows/schema';
import { bookkeeping, bookkeepingOptions } from './activities';
import { conditionsEvaluatedInWorkflow, EventMemory } from './event-memory';
import {
  contactEventSignal,
  flowStatusSignal,
  journeyStateQuery,
  type JourneyExit,
  type JourneyInput,
  type JourneyResult,
  type JourneyState,
  type ResumePoint,
} from '../flows/journey-messages';
import { runRandomSplit, runSplit } from './steps/branch';
import { journeyEvents, sentMessages, type StepContext, type StepResult } from './steps/context';
import { runDelay } from './steps/delay';
import { runDelayUntil } from './steps/delay-until';
import { runSend } from './steps/send';
import { runUpdateProfile } from './steps/update-profile';
import { runWaitForEvent } from './steps/wait-for-event';

/**
 * A run hands over to a new one (continue-as-new) at its next wait past this many history
 * events, or when the server suggests it. Part of the determinism contract: changing it
 * changes where runs rotate, so a change goes behind its own patch.
 */
export const ROTATE_AFTER_HISTORY_EVENTS = 500;

export async function journeyWorkflow(input: JourneyInput): Promise<JourneyResult> {
  const flow = withDefaults(input.flow);
  const { contactId, trigger, carried } = input;
  const info = workflowInfo();
  const state: JourneyState = {
    flowId: flow.id,
    flowVersion: flow.version,
    contactId,
    status: 'running',
    flowStatus: carried?.flowStatus ?? 'live',
    steps: carried ? [...carried.steps] : [],
    signals: carried?.signals ?? 0,
    runs: carried?.runs ?? 0,
  };
  const exits = exitRules(flow);
  const ctx: StepContext = {
    input,
    flow,
    state,
    exits,
    seen: [],
    rotate: () => false,
    ...(carried ? { resume: carried.resume } : {}),
    // The first run's id stays the journey's identity: Postgres rows and messages are keyed on it.
    journey: {
      runId: carried?.firstRunId ?? info.runId,
      workflowId: info.workflowId,
      flowId: flow.id,
      flowVersion: flow.version,
      contactId,
      startedAt: trigger.timestamp,
    },
  };
  // Journeys recorded before these patches replay with the unbounded event list and never rotate.
  if (patched('journey-event-memory')) {
    const waits = flow.steps.flatMap((s) => (s.type === 'wait_for_event' ? [s] : []));
    const sent = () => new Set(Object.values(sentMessages(ctx)));
    ctx.memory = new EventMemory(conditionsEvaluatedInWorkflow(flow, exits), waits, sent, trigger);
    if (carried) ctx.memory.restore(carried.memory, Date.now());
  }
  if (ctx.memory && patched('journey-continue-as-new')) {
    ctx.rotate = () => {
      const now = workflowInfo();
      return now.continueAsNewSuggested || now.historyLength > ROTATE_AFTER_HISTORY_EVENTS;
    };
  }

  setHandler(journeyStateQuery, () => state);
  setHandler(contactEventSignal, (event) => {
    if (ctx.memory) {
      // A redelivered event (routing retried, a reset) counts once.
      if (ctx.memory.has(event.id)) return;
      ctx.memory.record(event, Date.now());
    } else {
      ctx.seen.push(event);
    }
    state.signals = (state.signals ?? 0) + 1;
    if (state.exit) return;
    const rule = firstExit(ctx.exits, {
      now: Date.now(),
      trigger,
      journeyEvents: journeyEvents(ctx),
      sentMessages: sentMessages(ctx),
    });
    if (rule)
      state.exit = {
        reason: rule.reason,
        filter: rule.condition,
        event: { id: event.id, name: event.name, timestamp: event.timestamp },
        detectedBy: 'signal',
      };
  });
  setHandler(flowStatusSignal, ({ status }) => {
    if (status === 'archived') state.exit ??= { reason: 'archived' };
    else state.flowStatus = status;
  });

  const indexById = new Map(flow.steps.map((s, i) => [s.id, i]));
  let index: number | undefined = carried ? indexById.get(carried.resume.stepId) : 0;
  while (index !== undefined && !state.exit) {
    const step = flow.steps[index];
    state.currentStep = step.id;
    describe(state, step);
    const { outcome, next, messageId, branch, rotate } = await runStep(step, ctx);
    if (rotate) return handOver(ctx, rotate);
    state.steps.push({
      stepId: step.id,
      type: step.type,
      outcome,
      at: new Date().toISOString(),
      ...(messageId ? { messageId } : {}),
      ...(branch ? { branch } : {}),
    });
    const target: string | undefined = next === undefined ? nextStepId(flow.steps, index) : (next ?? undefined);
    index = target === undefined ? undefined : indexById.get(target);
  }

  state.status = state.exit ? 'exited' : 'completed';
  describe(state);
  const summary = `journey ${state.status}${state.exit ? `: ${exitSummary(state.exit)}` : ''}`;
  await bookkeeping.recordJourneyEnd.executeWithOptions({ ...bookkeepingOptions, summary }, [
    {
      journey: ctx.journey,
      status: state.status,
      exit: state.exit ?? null,
      currentStep: state.currentStep ?? null,
      steps: state.steps,
    },
  ]);
  return { status: state.status, exit: state.exit, steps: state.steps };
}

/**
 * Continue-as-new: the journey goes on in a fresh run with a short history, carrying where it
 * stands. Signals that arrive during the handover reach the new run (the server refuses to
 * close a run with unhandled signals and hands them to this one first).
 */
async function handOver(ctx: StepContext, resume: ResumePoint): Promise<never> {
  await condition(allHandlersFinished);
  const info = workflowInfo();
  const next: JourneyInput = {
    ...ctx.input,
    v: 2,
    carried: {
      firstRunId: ctx.journey.runId,
      runs: (ctx.state.runs ?? 0) + 1,
      resume,
      flowStatus: ctx.state.flowStatus,
      steps: ctx.state.steps,
      signals: ctx.state.signals ?? 0,
      memory: ctx.memory!.snapshot(),
    },
  };
  // Given explicitly: not every server copies the memo and search attributes over by itself.
  return makeContinueAsNewFunc<typeof journeyWorkflow>({
    memo: info.memo,
    typedSearchAttributes: info.typedSearchAttributes,
  })(next);
}

async function runStep(step: Step, ctx: StepContext): Promise<StepResult> {
  switch (step.type) {
    case 'delay':
      return runDelay(step, ctx);
    case 'delay_until':
      return runDelayUntil(step, ctx);
    case 'email':
    case 'sms':
    case 'push':
    case 'webhook':
      return runSend(step, ctx);
    case 'split':
      return runSplit(step, ctx);
    case 'random_split':
      return runRandomSplit(step, ctx);
    case 'wait_for_event':
      return runWaitForEvent(step, ctx);
    case 'update_profile':
      return runUpdateProfile(step, ctx);
    case 'exit':
      ctx.state.exit = { reason: 'exit_step', stepId: step.id, ...(step.reason ? { detail: step.reason } : {}) };
      return { outcome: 'exit' };
  }
}

function exitSummary(exit: JourneyExit): string {
  switch (exit.reason) {
    case 'flow_filter':
    case 'goal':
    case 'unsubscribed': {
      const what =
        exit.reason === 'goal' ? 'goal reached' : exit.reason === 'unsubscribed' ? 'unsubscribed' : 'flow filter';
      const how = exit.detectedBy === 'signal' ? 'signal' : 'checked before acting';
      const label = 'event' in exit.filter ? ` "${exit.filter.event}"` : '';
      return `${what}${label}${exit.event ? ` matched event ${exit.event.id}` : ''} (${how})`;
    }
    case 'exit_step':
      return `exit step "${exit.stepId}"${exit.detail ? ` (${exit.detail})` : ''}`;
    case 'archived':
      return 'flow archived';
  }
}

/** Live status in the Temporal UI ("Current details"), for support reading one journey. */
function describe(state: JourneyState, step?: Step): void {
  const lines = [`**${state.flowId}** v${state.flowVersion} for contact \`${state.contactId}\`: ${state.status}`];
  if (step)
    lines.push(`Current step: \`${step.id}\` (${step.type}${step.type === 'delay' ? ` ${step.duration}` : ''})`);
  if (state.exit) lines.push(`Exited: ${exitSummary(state.exit)}`);
  setCurrentDetails(lines.join('\n\n'));
}
