import { condition, patched } from '@temporalio/workflow';
import { matchesAllProperties } from '../../flows/conditions';
import { parseDuration } from '../../flows/duration';
import type { StepOf } from '../../flows/schema';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { exited, takeResume, type StepContext, type StepResult } from './context';

/**
 * "Wait up to 2 days for Email Opened": the events signalled from now on are watched; the
 * timer is cancelled as soon as one matches (or the journey exits). Before taking the timeout
 * branch the stored events are asked too: an event whose signal came late or never (routing
 * deferred during a Temporal outage) still takes the event branch.
 */
export async function runWaitForEvent(step: StepOf<'wait_for_event'>, ctx: StepContext): Promise<StepResult> {
  const resumed = takeResume(ctx, step.id);
  const began = resumed?.waitBegan ?? new Date(Date.now()).toISOString();
  const deadline = resumed?.deadline ? Date.parse(resumed.deadline) : Date.now() + parseDuration(step.timeout)!;
  const matched = watch(step, ctx, resumed?.waitMatched ?? false);
  ctx.state.waitingUntil = new Date(deadline).toISOString();
  const remaining = deadline - Date.now();
  if (remaining > 0) {
    await condition(() => matched() || exited(ctx)() || ctx.rotate(), remaining, {
      summary: `${step.id}: wait up to ${step.timeout} for ${step.event}`,
    });
  }
  if (!ctx.state.exit && !matched() && ctx.rotate() && Date.now() < deadline) {
    return {
      outcome: 'continued as new',
      rotate: { stepId: step.id, deadline: ctx.state.waitingUntil, waitBegan: began },
    };
  }
  ctx.state.waitingUntil = undefined;
  const happened = matched();
  ctx.memory?.endWait();
  if (ctx.state.exit) return { outcome: 'interrupted by exit', next: null };
  if (happened) return { outcome: `${step.event} happened`, next: step.onEvent };
  if (patched('wait-for-event-stored-check')) {
    const stored = await bookkeeping.findStoredEvent.executeWithOptions(
      withSummary(bookkeepingOptions, `${step.id}: did ${step.event} happen?`),
      [
        {
          contactId: ctx.input.contactId,
          event: step.event,
          where: step.where,
          since: began,
          trigger: ctx.input.trigger,
          now: Date.now(),
        },
      ],
    );
    if (stored.found)
      return {
        outcome: `${step.event} happened (event ${stored.event.id}, found in stored events)`,
        next: step.onEvent,
      };
  }
  return { outcome: 'timed out', next: step.onTimeout };
}

/** Has the awaited event arrived since the wait began? */
function watch(step: StepOf<'wait_for_event'>, ctx: StepContext, alreadyMatched: boolean): () => boolean {
  if (ctx.memory) {
    ctx.memory.startWait(step, alreadyMatched);
    const memory = ctx.memory;
    return () => memory.waitMatched();
  }
  // Journeys started before the event memory: rescan what arrived since the wait began.
  const from = ctx.seen.length;
  return () =>
    ctx.seen
      .slice(from)
      .some(
        (e) =>
          e.name === step.event &&
          matchesAllProperties(e.properties, step.where, { now: Date.now(), trigger: ctx.input.trigger }) === true,
      );
}
