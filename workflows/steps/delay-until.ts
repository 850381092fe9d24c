import { condition } from '@temporalio/workflow';
import type { StepOf } from '../../flows/schema';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { exited, type StepContext, type StepResult } from './context';

/**
 * "Next day at 10:00 in the contact's time zone", "next Monday 9:00", "3 days before the
 * renewal date": the moment is computed by an activity (it needs the contact's zone and
 * dates, and its answer is then fixed in the history), then waited for with a timer.
 */
export async function runDelayUntil(step: StepOf<'delay_until'>, ctx: StepContext): Promise<StepResult> {
  const wake = await bookkeeping.resolveWakeTime.executeWithOptions(withSummary(bookkeepingOptions, `${step.id}: when to wake`), [
    { journey: ctx.journey, step, trigger: ctx.input.trigger, now: Date.now() },
  ]);
  if ('error' in wake) return { outcome: `skipped (${wake.error})` };
  const ms = Date.parse(wake.at) - Date.now();
  if (ms < 1_000) return { outcome: `no wait (${wake.at} is past)` };
  ctx.state.waitingUntil = wake.at;
  const cut = await condition(exited(ctx), ms, { summary: `${step.id}: wait until ${wake.at} (${wake.zone})` });
  ctx.state.waitingUntil = undefined;
  return { outcome: cut ? 'interrupted by exit' : `woke at ${wake.at}` };
}
