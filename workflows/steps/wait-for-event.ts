import { condition, patched } from '@temporalio/workflow';
import { matchesAllProperties } from '../../flows/conditions';
import { parseDuration } from '../../flows/duration';
import type { PropertyCondition, StepOf } from '../../flows/schema';
import { scopedWhere, waitScope, type WaitScope } from '../../flows/wait-scope';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { exited, takeResume, type StepContext, type StepResult } from './context';

/**
 * "Wait up to 2 days for Email Opened": the events signalled from now on are watched; the
 * timer is cancelled as soon as one matches (or the journey exits). Before taking the timeout
 * branch the stored events are asked too: an event whose signal came late or never (routing
 * deferred during a Temporal outage) still takes the event branch. A wait on an event about a
 * message listens to the journey's own message (flows/wait-scope.ts), since patch
 * "wait-for-event-own-message"; journeys started before it take any message's event.
 */
export async function runWaitForEvent(step: StepOf<'wait_for_event'>, ctx: StepContext): Promise<StepResult> {
  const resumed = takeResume(ctx, step.id);
  const began = resumed?.waitBegan ?? new Date(Date.now()).toISOString();
  const deadline = resumed?.deadline ? Date.parse(resumed.deadline) : Date.now() + parseDuration(step.timeout)!;
  const scope: WaitScope = patched('wait-for-event-own-message') ? waitScope(step, sentInOrder(ctx)) : { kind: 'any' };
  const where = scopedWhere(step.where, scope);
  const matched = scope.kind === 'none' ? () => false : watch(step, where, ctx, resumed?.waitMatched ?? false);
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
  if (happened) return { outcome: `${step.event} happened${ofMessage(scope)}`, next: step.onEvent };
  if (scope.kind === 'none') {
    const whose = scope.stepId ? `step ${scope.stepId}` : 'this journey';
    return { outcome: `timed out (no message of ${whose} sent before the wait)`, next: step.onTimeout };
  }
  if (patched('wait-for-event-stored-check')) {
    const stored = await bookkeeping.findStoredEvent.executeWithOptions(
      withSummary(bookkeepingOptions, `${step.id}: did ${step.event} happen?`),
      [
        {
          contactId: ctx.input.contactId,
          event: step.event,
          where,
          since: began,
          trigger: ctx.input.trigger,
          now: Date.now(),
        },
      ],
    );
    if (stored.found)
      return {
        outcome: `${step.event} happened${ofMessage(scope)} (event ${stored.event.id}, found in stored events)`,
        next: step.onEvent,
      };
  }
  return { outcome: 'timed out', next: step.onTimeout };
}

/** The messages this journey sent, in the order it sent them: [step id, message id]. */
function sentInOrder(ctx: StepContext): [string, string][] {
  return ctx.state.steps.flatMap((s) => (s.messageId ? [[s.stepId, s.messageId] as [string, string]] : []));
}

/** Support reads whose message answered the wait. */
const ofMessage = (scope: WaitScope) => (scope.kind === 'message' ? ` (message of step ${scope.stepId})` : '');

/** Has the awaited event (with the scope's conditions) arrived since the wait began? */
function watch(
  step: StepOf<'wait_for_event'>,
  where: PropertyCondition[] | undefined,
  ctx: StepContext,
  alreadyMatched: boolean,
): () => boolean {
  if (ctx.memory) {
    ctx.memory.startWait({ event: step.event, where }, alreadyMatched);
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
          matchesAllProperties(e.properties, where, { now: Date.now(), trigger: ctx.input.trigger }) === true,
      );
}
