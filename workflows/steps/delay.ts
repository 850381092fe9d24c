import { condition } from '@temporalio/workflow';
import { parseDuration } from '../../flows/duration';
import type { StepOf } from '../../flows/schema';
import { exited, takeResume, type StepContext, type StepResult } from './context';

/**
 * A delay is a timer that a flow-filter exit cuts short: `condition` returns as soon as a
 * signal sets the exit, and the timer is cancelled. It also returns when the run must
 * continue as new: the next run waits for the same deadline.
 */
export async function runDelay(step: StepOf<'delay'>, ctx: StepContext): Promise<StepResult> {
  const resumed = takeResume(ctx, step.id);
  // parseDuration cannot fail here: the duration was validated when the flow was saved.
  const deadline = resumed?.deadline ? Date.parse(resumed.deadline) : Date.now() + parseDuration(step.duration)!;
  ctx.state.waitingUntil = new Date(deadline).toISOString();
  if (deadline <= Date.now()) {
    // Resumed after its deadline (the handover took that long): nothing left to wait.
    ctx.state.waitingUntil = undefined;
    return { outcome: 'elapsed' };
  }
  const woke = await condition(() => exited(ctx)() || ctx.rotate(), deadline - Date.now(), {
    summary: `${step.id}: wait ${step.duration}`,
  });
  if (woke && !ctx.state.exit)
    return { outcome: 'continued as new', rotate: { stepId: step.id, deadline: ctx.state.waitingUntil } };
  ctx.state.waitingUntil = undefined;
  return { outcome: woke ? 'interrupted by exit' : 'elapsed' };
}
