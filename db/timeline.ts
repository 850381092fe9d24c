/**
 * A contact's timeline: its events newest first, paged by keyset on (occurred_at, id) so a
 * page is one index range scan however deep the client pages, and events stored meanwhile
 * never shift a page.
 */
import type { EventType } from './events';
import type { Queryable } from './pool';

export interface TimelineEvent {
  id: number;
  messageId: string;
  type: EventType;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
}

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

interface Row {
  id: number;
  message_id: string;
  type: EventType;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurred_at: Date;
  received_at: Date;
  position_at: string;
}

export async function contactTimeline(q: Queryable, contactId: string, query: TimelineQuery): Promise<{ events: TimelineEvent[]; next?: TimelinePosition }> {
  const { rows } = await q.query<Row>(
    `SELECT id, message_id, type, name, properties, context, occurred_at, received_at, occurred_at::text AS position_at
     FROM events
     WHERE contact_id = $1
       AND ($2::text IS NULL OR type = $2)
       AND ($3::text IS NULL OR name = $3)
       AND ($4::timestamptz IS NULL OR (occurred_at, id) < ($4::timestamptz, $5::bigint))
     ORDER BY occurred_at DESC, id DESC
     LIMIT $6`,
    [contactId, query.type ?? null, query.name ?? null, query.after?.at ?? null, query.after?.id ?? null, query.limit + 1],
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    events: page.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      type: r.type,
      name: r.name,
      properties: r.properties,
      context: r.context,
      occurredAt: r.occurred_at.toISOString(),
      receivedAt: r.received_at.toISOString(),
    })),
    ...(rows.length > query.limit && last ? { next: { at: last.position_at, id: last.id } } : {}),
  };
}
