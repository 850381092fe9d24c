/** The segment clock's activity: evaluate one contact for one segment at workflow time. */
import { needsClock, timeDirection } from '../audiences/segment-deps';
import { evaluateContact, getSegment, recordClockNext } from '../db/segments';
import type { Db } from '../db/pool';

export interface ClockRequest {
  segmentId: string;
  contactId: string;
  /** Workflow time, ms: the moment the flip was computed for. */
  now: number;
}

export interface ClockOutcome {
  member: boolean | null;
  change: 'entered' | 'exited' | null;
  /** The next moment membership can flip with time alone; null: the clock can stop. */
  nextDueAt: number | null;
}

export function createSegmentActivities(db: Db) {
  return {
    async evaluateSegmentClock(req: ClockRequest): Promise<ClockOutcome> {
      const segment = await getSegment(db, req.segmentId);
      // Deleted, or its build failed: nothing to keep.
      if (!segment || segment.status === 'failed') return { member: null, change: null, nextDueAt: null };
      const [result] = await evaluateContact(db, [segment], req.contactId, new Date(req.now), 'clock');
      if (!result) return { member: null, change: null, nextDueAt: null }; // the contact is gone
      const next = result.nextFlip && needsClock(timeDirection(segment.condition), result.member) ? result.nextFlip : null;
      await recordClockNext(db, segment.id, req.contactId, next);
      return { member: result.member, change: result.change, nextDueAt: next?.getTime() ?? null };
    },
  };
}

export type SegmentActivities = ReturnType<typeof createSegmentActivities>;
