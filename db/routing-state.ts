/**
 * What routing a contact's events needs to know first, in one query: whether an earlier event
 * of the contact is still unrouted (then its later events must wait: order), whether it has a
 * live journey at all (if not, and routing starts none, there is none to signal or to count
 * as already in the flow), whether the id was merged into another contact, and which of the
 * events were routed meanwhile (a lease ran out and another pass took them over).
 */
import type { Queryable } from './pool';

export interface ContactRoutingState {
  /** The contact's earliest unrouted event before `beforeId`. */
  earlierUnrouted?: number;
  /** A journey of the contact is starting or running. */
  liveJourneys: boolean;
  /** The id is an alias of another contact (see db/contact-merge.ts). */
  merged: boolean;
  /** Of the events asked about, those routed meanwhile (by a pass that took them over), with their outcome. */
  routed: Map<number, unknown>;
}

export async function contactRoutingState(q: Queryable, contactId: string, eventIds: number[]): Promise<ContactRoutingState> {
  const { rows } = await q.query<{ earlier: number | null; live: boolean; merged: boolean; routed: { id: number; result: unknown }[] | null }>(
    `SELECT (SELECT min(id) FROM events WHERE contact_id = $1 AND routed_at IS NULL AND id < $2) AS earlier,
       EXISTS (SELECT 1 FROM journeys WHERE contact_id = $1 AND status IN ('starting', 'running')) AS live,
       EXISTS (SELECT 1 FROM contact_aliases WHERE alias_id = $1) AS merged,
       (SELECT json_agg(json_build_object('id', id, 'result', routing_result)) FROM events WHERE id = ANY($3) AND routed_at IS NOT NULL) AS routed`,
    [contactId, Math.min(...eventIds), eventIds],
  );
  const r = rows[0];
  return {
    ...(r.earlier === null ? {} : { earlierUnrouted: Number(r.earlier) }),
    liveJourneys: r.live,
    merged: r.merged,
    routed: new Map((r.routed ?? []).map((e) => [Number(e.id), e.result])),
  };
}
