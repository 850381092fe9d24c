/**
 * A split the workflow could not decide from what the journey saw: evaluate it with the
 * contact's profile and stored events (and check the journey's exits on the way).
 */
import type { Queryable } from '../db/pool';
import { evaluate, type EventFacts } from '../flows/conditions';
import type { Condition } from '../flows/schema';
import { loadFacts } from './facts';
import { checkGuard, guardFacts, type GuardRequest, type GuardStop } from './guard';

export type SplitOutcome = { status: 'evaluated'; result: boolean } | GuardStop;

export async function evaluateSplit(
  db: Queryable,
  req: GuardRequest & { condition: Condition; journeyEvents: EventFacts[] },
): Promise<SplitOutcome> {
  const stop = await checkGuard(db, req, { holdWhenPaused: false });
  if (stop) return stop;
  const facts = await loadFacts(db, req.journey.contactId, [req.condition], {
    ...guardFacts(req),
    journeyEvents: req.journeyEvents,
  });
  // Still unknown (a trigger property the condition compares with is missing): the "no" branch.
  return { status: 'evaluated', result: evaluate(req.condition, facts) === true };
}
