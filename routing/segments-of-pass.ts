/**
 * Whether any live segment depends on an event, for a pass over many events (a batch, a pass
 * of the router loop): asked once per pass and kind of fact instead of once per event, so a
 * batch of product views no segment reads costs no statement per event. A segment saved
 * during the pass is not missed: its build starts after it is saved and reads every event
 * stored before, and the events of a pass were all stored before the pass began.
 */
import { segmentsDependingOn } from '../db/segments';
import type { StoredEvent } from '../db/events';
import type { Queryable } from '../db/pool';
import { factChangeOf } from './segment-upkeep';

export interface SegmentDependents {
  dependOn(event: StoredEvent): Promise<boolean>;
}

export function segmentsOfPass(db: Queryable): SegmentDependents {
  const cache = new Map<string, Promise<boolean>>();
  return {
    dependOn(event) {
      const change = factChangeOf(event);
      const key = JSON.stringify(change);
      let depend = cache.get(key);
      if (!depend) {
        depend = segmentsDependingOn(db, change).then((segments) => segments.length > 0);
        cache.set(key, depend);
        // A failed read is not kept: the next event of the pass asks again.
        depend.catch(() => cache.delete(key));
      }
      return depend;
    },
  };
}
