import { condition } from '@temporalio/workflow';
import { parseDuration } from '../../flows/duration';
import type { StepOf } from '../../flows/schema';
import { exited, type StepContext } from './context';

/**
 * A delay is a timer that a flow-filter exit cuts short: `condition` returns as soon as a
 * signal sets the exit, and the timer is cancelled.
 */
export async function runDelay(step: StepOf<'delay'>, ctx: StepContext): Promise<string> {
  const ms = parseDuration(step.duration)!; // validated when the flow was saved
  ctx.state.waitingUntil = new Date(Date.now() + ms).toISOString();
  const exitedEarly = await condition(exited(ctx), ms, { summary: `${step.id}: wait ${step.duration}` });
  ctx.state.waitingUntil = undefined;
  return exitedEarly ? 'interrupted by exit' : 'elapsed';
}
