/**
 * Arming segment clocks off the routing path. The upkeep (and a build) only store the moment a
 * contact's clock must wake, with `arm_pending`, in the statement that applies the memberships;
 * this pass signals Temporal (signalWithStart: starts the clock or brings its moment earlier)
 * and clears the flag. So an ingested event never waits on Temporal for a clock, and a slow
 * Temporal cannot push a request past its routing deadline because of segments.
 *
 * The pass is kicked by the upkeep that stored a moment and by every router loop pass (which
 * arms what a process that died in between left pending); one at a time per database in this
 * process. Two processes arming the same clock is harmless: the clock keeps the earlier moment.
 */
import { createHash } from 'node:crypto';
import type { WorkflowClient } from '@temporalio/client';
import { clocksToArm, recordClocksArmed } from '../db/segments';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { ContactIdAttribute, JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';
import { segmentClockDueSignal, type segmentClockWorkflow, type SegmentClockInput } from '../workflows/segment-clock';
import { temporalHealth } from './temporal-health';

export interface ClockArmingDeps {
  db: Db;
  workflows: WorkflowClient;
  log?: Logger;
}

/**
 * A contact's clock, named by a hash of the contact id: ids can be email addresses, and a
 * workflow id outlives an erasure in Temporal's visibility store until retention drops it.
 */
export const segmentClockWorkflowId = (contactId: string) =>
  `segment-clock:${createHash('sha256').update(contactId).digest('hex').slice(0, 32)}`;

/** The id clocks armed before the hash had; erasure still ends such a clock. */
export const legacySegmentClockWorkflowId = (contactId: string) => `segment-clock:${contactId}`;

/** Pending clocks read at once, and signalled at once. */
const ARM_BATCH = 200;
const ARM_CONCURRENCY = 16;

/** Starts the clock or brings its moment earlier (signalWithStart: "already running" is no error). */
export async function armClock(
  deps: Pick<ClockArmingDeps, 'workflows'>,
  contactId: string,
  dueAt: Date,
): Promise<void> {
  const input: SegmentClockInput = { contactId, dueAt: dueAt.getTime() };
  await deps.workflows.signalWithStart<typeof segmentClockWorkflow, [{ dueAt: number }]>('segmentClockWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: segmentClockWorkflowId(contactId),
    args: [input],
    signal: segmentClockDueSignal,
    signalArgs: [{ dueAt: input.dueAt }],
    typedSearchAttributes: [{ key: ContactIdAttribute, value: contactId }],
    staticSummary: `Segment clock for contact ${contactId}`,
    staticDetails: `Re-evaluates contact ${contactId} for its time-based segments when a membership can change with time alone (first due ${dueAt.toISOString()}).`,
  });
}

interface Drain {
  promise: Promise<number>;
  /** Kicked while running: look again before stopping. */
  again: boolean;
}

const drains = new WeakMap<object, Drain>();

/** Clocks this process has armed (signalWithStart calls that succeeded): what the bench counts. */
let armedInProcess = 0;
export const clocksArmedInProcess = () => armedInProcess;

/**
 * Arms every pending clock; resolves with how many were armed (never rejects: what fails stays
 * pending for the next pass). A call while a pass runs joins it (and makes it look again).
 */
export function armPendingClocks(deps: ClockArmingDeps): Promise<number> {
  const running = drains.get(deps.db);
  if (running) {
    running.again = true;
    return running.promise;
  }
  const drain: Drain = { promise: Promise.resolve(0), again: false };
  drains.set(deps.db, drain);
  drain.promise = (async () => {
    let armed = 0;
    try {
      for (;;) {
        if (temporalHealth(deps.workflows).isDown()) return armed;
        drain.again = false;
        const pending = await clocksToArm(deps.db, ARM_BATCH);
        if (pending.length === 0) {
          if (drain.again) continue;
          return armed;
        }
        const done: typeof pending = [];
        let failure: Error | undefined;
        for (let i = 0; i < pending.length; i += ARM_CONCURRENCY) {
          await Promise.all(
            pending.slice(i, i + ARM_CONCURRENCY).map(async (clock) => {
              try {
                await armClock(deps, clock.contactId, clock.dueAt);
                done.push(clock);
              } catch (err) {
                failure = err as Error;
              }
            }),
          );
        }
        await recordClocksArmed(deps.db, done);
        armed += done.length;
        armedInProcess += done.length;
        // Stop on a failure rather than spin on it: the next router loop pass tries again.
        if (failure) {
          deps.log?.warn(
            { err: failure.message, pending: pending.length - done.length },
            'segment clocks not armed yet; the router loop tries again',
          );
          return armed;
        }
      }
    } catch (err) {
      deps.log?.warn({ err: (err as Error).message }, 'segment clock arming stopped; the router loop tries again');
      return armed;
    } finally {
      drains.delete(deps.db);
    }
  })();
  return drain.promise;
}
