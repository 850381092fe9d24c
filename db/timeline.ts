/**
 * A contact's timeline: its events newest first, paged by keyset on (occurred_at, id) so a
 * page is one index range scan however deep the client pages, and events stored meanwhile
 * never shift a page.
 */
import { toEvent, type EventRow, type EventType, type StoredEvent } from './events';
import type { Queryable } from './pool';

export type TimelineEvent = Pick<
  StoredEvent,
  'id' | 'messageId' | 'type' | 'name' | 'properties' | 'context' | 'occurredAt' | 'receivedAt'
>;

/** Where the previous page ended: the last event's time exactly as Postgres holds it (microseconds) and id. */
export interface TimelinePosition {
  at: string;
  id: number;
}

export interface TimelineQuery {
  limit: number;
  after?: TimelinePosition;
  type?: EventType;
  name?: string;
}

export async function contactTimeline(
  q: Queryable,
  contactId: string,
  query: TimelineQuery,
): Promise<{ events: TimelineEvent[]; next?: TimelinePosition }> {
  const { rows } = await q.query<EventRow & { position_at: string }>(
    `SELECT *, occurred_at::text AS position_at
     FROM events
     WHERE contact_id = $1
       AND ($2::text IS NULL OR type = $2)
       AND ($3::text IS NULL OR name = $3)
       AND ($4::timestamptz IS NULL OR (occurred_at, id) < ($4::timestamptz, $5::bigint))
     ORDER BY occurred_at DESC, id DESC
     LIMIT $6`,
    [
      contactId,
      query.type ?? null,
      query.name ?? null,
      query.after?.at ?? null,
      query.after?.id ?? null,
      query.limit + 1,
    ],
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    events: page.map((r) => {
      const { id, messageId, type, name, properties, context, occurredAt, receivedAt } = toEvent(r);
      return { id, messageId, type, name, properties, context, occurredAt, receivedAt };
    }),
    ...(rows.length > query.limit && last ? { next: { at: last.position_at, id: last.id } } : {}),
  };
}
