/**
 * What routing a contact's events needs to know first, in one query: whether an earlier event
 * of the contact is still unrouted (then its later events must wait: order), whether it has a
 * live journey at all (if not, and routing starts none, there is none to signal or to count
 * as already in the flow), whether the id was merged into another contact, and which of the
 * events were routed meanwhile (a lease ran out and another pass took them over).
 */
import { groupCallsPer } from './group-commit';
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

interface StateRow {
  earlier: number | null;
  live: boolean;
  merged: boolean;
  routed: { id: number; result: unknown }[] | null;
}

/** The state of several contacts in one statement, in the order asked (a contact may be asked twice). */
export async function contactRoutingStates(
  q: Queryable,
  asks: { contactId: string; eventIds: number[] }[],
): Promise<ContactRoutingState[]> {
  if (asks.length === 0) return [];
  const { rows } = await q.query<StateRow & { ord: string }>(
    `SELECT c.ord,
       (SELECT min(id) FROM events WHERE contact_id = c.contact_id AND routed_at IS NULL AND id < c.first_id) AS earlier,
       EXISTS (SELECT 1 FROM journeys WHERE contact_id = c.contact_id AND status IN ('starting', 'running')) AS live,
       EXISTS (SELECT 1 FROM contact_aliases WHERE alias_id = c.contact_id) AS merged,
       (SELECT json_agg(json_build_object('id', id, 'result', routing_result)) FROM events
        WHERE contact_id = c.contact_id AND id = ANY($3) AND routed_at IS NOT NULL) AS routed
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS c(contact_id, first_id, ord)`,
    [asks.map((a) => a.contactId), asks.map((a) => Math.min(...a.eventIds)), asks.flatMap((a) => a.eventIds)],
  );
  const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
  return asks.map((ask, i) => toState(byOrd.get(i + 1)!, new Set(ask.eventIds)));
}

function toState(r: StateRow, asked: Set<number>): ContactRoutingState {
  return {
    ...(r.earlier === null ? {} : { earlierUnrouted: Number(r.earlier) }),
    liveJourneys: r.live,
    merged: r.merged,
    routed: new Map((r.routed ?? []).filter((e) => asked.has(Number(e.id))).map((e) => [Number(e.id), e.result])),
  };
}

// Contacts asked about at the same moment (a pass's lanes start together) are read in one statement.
const stateGrouped = groupCallsPer((q: Queryable, asks: { contactId: string; eventIds: number[] }[]) =>
  contactRoutingStates(q, asks),
);

/** One contact's state, read together with the other contacts asked about at the same moment. */
export function contactRoutingState(q: Queryable, contactId: string, eventIds: number[]): Promise<ContactRoutingState> {
  return stateGrouped(q, { contactId, eventIds });
}

/** The contact's earliest event before `beforeId` still unrouted, if any (one request's own event). */
export async function earlierUnroutedEvent(
  q: Queryable,
  contactId: string,
  beforeId: number,
): Promise<number | undefined> {
  const { rows } = await q.query<{ id: string | null }>(
    'SELECT min(id) AS id FROM events WHERE contact_id = $1 AND routed_at IS NULL AND id < $2',
    [contactId, beforeId],
  );
  return rows[0].id === null ? undefined : Number(rows[0].id);
}
