import { evaluate } from '../../flows/conditions';
import { pickBranch } from '../../flows/random';
import type { StepOf } from '../../flows/schema';
import { bookkeeping, bookkeepingOptions, withSummary } from '../activities';
import { applyStop, guardRequest, journeyEvents, sentMessages, type StepContext, type StepResult } from './context';

/**
 * A conditional split. What the journey itself saw (trigger, signalled events, its messages'
 * engagement) is evaluated here; when that cannot decide, an activity evaluates with the
 * contact's profile and stored events.
 */
export async function runSplit(step: StepOf<'split'>, ctx: StepContext): Promise<StepResult> {
  let result = evaluate(step.condition, {
    now: Date.now(),
    trigger: ctx.input.trigger,
    journeyEvents: journeyEvents(ctx),
    sentMessages: sentMessages(ctx),
  });
  if (result === undefined) {
    const answer = await bookkeeping.evaluateSplit.executeWithOptions(
      withSummary(bookkeepingOptions, `${step.id}: evaluate split`),
      [{ ...guardRequest(ctx), condition: step.condition, journeyEvents: journeyEvents(ctx) }],
    );
    if (answer.status !== 'evaluated') return { outcome: applyStop(ctx, answer), next: null };
    result = answer.result;
  }
  return result ? { outcome: 'yes', next: step.then } : { outcome: 'no', next: step.else };
}

/** A/B split: sticky per contact (a hash, not a random draw), so replays and re-entries agree. */
export function runRandomSplit(step: StepOf<'random_split'>, ctx: StepContext): StepResult {
  const branch = pickBranch(step, ctx.flow.id, ctx.input.contactId);
  return { outcome: `branch ${branch.name}`, next: branch.next, branch: branch.name };
}
