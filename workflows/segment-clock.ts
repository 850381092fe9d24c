/**
 * A segment clock: one small workflow per contact with a segment membership that can flip
 * with time alone ("no order for 90 days"). It sleeps on a durable timer until the earliest
 * such moment, then an activity evaluates the contact's time-based segments at that moment and
 * stores the entries and exits; the activity answers the next moment, if any. The router
 * re-arms it (signalWithStart) when an event brings the moment earlier. One clock per contact,
 * not per segment and contact: twenty time-based segments cost one timer. Support finds it in
 * the Temporal UI by `ContactId` (its id, routing/segment-clock-arming.ts, is a hash).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineSignal,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { SegmentActivities } from '../activities/segments';

export interface SegmentClockInput {
  contactId: string;
  /** When to evaluate, ms since epoch. */
  dueAt: number;
}

/** An earlier moment to evaluate at (the later of two is never needed: the clock re-arms itself). */
export const segmentClockDueSignal = defineSignal<[{ dueAt: number }]>('segmentClockDue');

const { evaluateSegmentClock } = proxyActivities<SegmentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Wakes before continuing as new: the history of a clock stays small however long it lives. */
const WAKES_PER_RUN = 50;

export async function segmentClockWorkflow(input: SegmentClockInput): Promise<void> {
  let due: number | undefined = input.dueAt;
  setHandler(segmentClockDueSignal, ({ dueAt }) => {
    due = due === undefined ? dueAt : Math.min(due, dueAt);
  });
  for (let wakes = 0; ; wakes += 1) {
    if (due === undefined) return;
    const target: number = due;
    const wait = target - Date.now();
    // Workflow time: deterministic, and what the time-skipping test server moves.
    if (wait > 0 && (await condition(() => due !== target, wait))) continue;
    due = undefined;
    // Evaluated at the due moment itself, not at when the task ran: the entry is stamped at the
    // instant the membership flipped, and a clock that fires late (a worker outage) catches up
    // flip by flip (the next moment is then already due).
    const { nextDueAt } = await evaluateSegmentClock({ contactId: input.contactId, now: target });
    if (nextDueAt !== null) due = due === undefined ? nextDueAt : Math.min(due, nextDueAt);
    if (due === undefined) return;
    if (wakes + 1 >= WAKES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof segmentClockWorkflow>({ ...input, dueAt: due });
    }
  }
}
