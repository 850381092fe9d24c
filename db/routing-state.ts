/**
 * What a routing pass needs to know about its contacts before it routes them, in one query:
 * whether an earlier event of the contact is still unrouted (then the pass must not route the
 * contact's events: order), and whether the contact has a live journey at all (if not, and
 * the pass starts none, there is no journey to signal and none to look up per event).
 */
import type { Queryable } from './pool';

export interface ContactRoutingState {
  /** The contact's earliest unrouted event before its first one in the pass. */
  earlierUnrouted?: number;
  /** A journey of the contact is starting or running. */
  liveJourneys: boolean;
}

export async function contactsRoutingState(q: Queryable, firstIdByContact: Map<string, number>): Promise<Map<string, ContactRoutingState>> {
  if (firstIdByContact.size === 0) return new Map();
  const { rows } = await q.query<{ contact_id: string; earlier: number | null; live: boolean }>(
    `SELECT f.contact_id,
       (SELECT min(e.id) FROM events e WHERE e.contact_id = f.contact_id AND e.routed_at IS NULL AND e.id < f.first_id) AS earlier,
       EXISTS (SELECT 1 FROM journeys j WHERE j.contact_id = f.contact_id AND j.status IN ('starting', 'running')) AS live
     FROM unnest($1::text[], $2::bigint[]) AS f(contact_id, first_id)`,
    [[...firstIdByContact.keys()], [...firstIdByContact.values()]],
  );
  return new Map(rows.map((r) => [r.contact_id, { ...(r.earlier === null ? {} : { earlierUnrouted: Number(r.earlier) }), liveJourneys: r.live }]));
}
