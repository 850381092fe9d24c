import { condition } from '@temporalio/workflow';
import { matchesAllProperties } from '../../flows/conditions';
import { parseDuration } from '../../flows/duration';
import type { StepOf } from '../../flows/schema';
import type { StepContext, StepResult } from './context';

/**
 * "Wait up to 2 days for Email Opened": the events signalled from now on are watched; the
 * timer is cancelled as soon as one matches (or the journey exits).
 */
export async function runWaitForEvent(step: StepOf<'wait_for_event'>, ctx: StepContext): Promise<StepResult> {
  const from = ctx.seen.length;
  const ms = parseDuration(step.timeout)!;
  const matched = () =>
    ctx.seen.slice(from).some((e) => e.name === step.event && matchesAllProperties(e.properties, step.where, { now: Date.now(), trigger: ctx.input.trigger }) === true);
  ctx.state.waitingUntil = new Date(Date.now() + ms).toISOString();
  await condition(() => matched() || ctx.state.exit !== undefined, ms, { summary: `${step.id}: wait up to ${step.timeout} for ${step.event}` });
  ctx.state.waitingUntil = undefined;
  if (ctx.state.exit) return { outcome: 'interrupted by exit', next: null };
  return matched() ? { outcome: `${step.event} happened`, next: step.onEvent } : { outcome: 'timed out', next: step.onTimeout };
}
