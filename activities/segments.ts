/** The segment clock's activity: evaluate one contact's time-based segments at the clock's moment. */
import { clockDue, evaluateContact, recordClockNext, timeBasedSegments } from '../db/segments';
import type { Db } from '../db/pool';

export interface ClockRequest {
  contactId: string;
  /** The moment the clock was due (workflow time), ms: what the contact is evaluated at. */
  now: number;
}

export interface ClockOutcome {
  changes: { segmentId: string; change: 'entered' | 'exited' }[];
  /** The next moment a membership can flip with time alone; null: the clock can stop. */
  nextDueAt: number | null;
}

export function createSegmentActivities(db: Db) {
  return {
    async evaluateSegmentClock(req: ClockRequest): Promise<ClockOutcome> {
      const segments = await timeBasedSegments(db);
      const results = await evaluateContact(db, segments, req.contactId, new Date(req.now), 'clock');
      const next = clockDue(segments, results);
      await recordClockNext(db, req.contactId, next);
      return {
        changes: results.flatMap((r) => (r.change ? [{ segmentId: r.segmentId, change: r.change }] : [])),
        nextDueAt: next?.getTime() ?? null,
      };
    },
  };
}

export type SegmentActivities = ReturnType<typeof createSegmentActivities>;
