import { condition } from '@temporalio/workflow';
import type { StepOf } from '../../flows/schema';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { exited, takeResume, type StepContext, type StepResult } from './context';

/**
 * "Next day at 10:00 in the contact's time zone", "next Monday 9:00", "3 days before the
 * renewal date": the moment is computed by an activity (it needs the contact's zone and
 * dates, and its answer is then fixed in the history), then waited for with a timer. A run
 * resumed after continue-as-new waits for the moment already computed.
 */
export async function runDelayUntil(step: StepOf<'delay_until'>, ctx: StepContext): Promise<StepResult> {
  const resumed = takeResume(ctx, step.id);
  let wake: { at: string; zone?: string };
  if (resumed?.deadline) {
    wake = { at: resumed.deadline };
  } else {
    const answer = await bookkeeping.resolveWakeTime.executeWithOptions(
      withSummary(bookkeepingOptions, `${step.id}: when to wake`),
      [{ journey: ctx.journey, step, trigger: ctx.input.trigger, now: Date.now() }],
    );
    if ('error' in answer) return { outcome: `skipped (${answer.error})` };
    wake = answer;
  }
  const ms = Date.parse(wake.at) - Date.now();
  if (resumed?.deadline && ms <= 0) return { outcome: `woke at ${wake.at}` };
  if (ms < 1_000) return { outcome: `no wait (${wake.at} is past)` };
  ctx.state.waitingUntil = wake.at;
  const cut = await condition(() => exited(ctx)() || ctx.rotate(), ms, {
    summary: `${step.id}: wait until ${wake.at}${wake.zone ? ` (${wake.zone})` : ''}`,
  });
  if (cut && !ctx.state.exit) return { outcome: 'continued as new', rotate: { stepId: step.id, deadline: wake.at } };
  ctx.state.waitingUntil = undefined;
  return { outcome: cut ? 'interrupted by exit' : `woke at ${wake.at}` };
}
