import type { Queryable } from './pool';

export interface StoredEvent {
  id: number;
  messageId: string;
  type: 'track' | 'identify';
  contactId: string;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
  routedAt: string | null;
  routingResult: unknown;
}

interface EventRow {
  id: number;
  message_id: string;
  type: 'track' | 'identify';
  contact_id: string;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurred_at: Date;
  received_at: Date;
  routed_at: Date | null;
  routing_result: unknown;
}

const toEvent = (r: EventRow): StoredEvent => ({
  id: r.id,
  messageId: r.message_id,
  type: r.type,
  contactId: r.contact_id,
  name: r.name,
  properties: r.properties,
  context: r.context,
  occurredAt: r.occurred_at.toISOString(),
  receivedAt: r.received_at.toISOString(),
  routedAt: r.routed_at?.toISOString() ?? null,
  routingResult: r.routing_result,
});

export interface NewEvent {
  messageId: string;
  type: 'track' | 'identify';
  contactId: string;
  name?: string;
  properties?: Record<string, unknown>;
  context?: Record<string, unknown>;
  occurredAt: string;
}

/** Stores an event once per messageId; a repeat returns the stored one with `duplicate: true`. */
export async function insertEvent(q: Queryable, e: NewEvent): Promise<{ event: StoredEvent; duplicate: boolean }> {
  const inserted = await q.query<EventRow>(
    `INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (message_id) DO NOTHING RETURNING *`,
    [e.messageId, e.type, e.contactId, e.name ?? null, e.properties ?? {}, e.context ?? {}, e.occurredAt],
  );
  if (inserted.rows[0]) return { event: toEvent(inserted.rows[0]), duplicate: false };
  const existing = await q.query<EventRow>('SELECT * FROM events WHERE message_id = $1', [e.messageId]);
  return { event: toEvent(existing.rows[0]), duplicate: true };
}

export async function markRouted(q: Queryable, id: number, result: unknown): Promise<void> {
  await q.query(
    'UPDATE events SET routed_at = now(), routing_result = $2, routing_error = NULL WHERE id = $1',
    [id, JSON.stringify(result)],
  );
}

export async function markRoutingFailed(q: Queryable, id: number, error: string): Promise<void> {
  await q.query('UPDATE events SET routing_error = $2, routing_attempts = routing_attempts + 1 WHERE id = $1', [id, error]);
}

/**
 * Claims accepted events whose routing never finished (Temporal was down, the API crashed),
 * oldest first. A claim lasts `leaseMs`, so two API processes never route the same event at once.
 */
export async function claimUnrouted(q: Queryable, olderThanMs: number, leaseMs: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<EventRow>(
    `UPDATE events SET routing_claimed_at = now()
     WHERE id IN (
       SELECT id FROM events
       WHERE routed_at IS NULL
         AND received_at < now() - make_interval(secs => $1 / 1000.0)
         AND (routing_claimed_at IS NULL OR routing_claimed_at < now() - make_interval(secs => $2 / 1000.0))
       ORDER BY received_at LIMIT $3 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [olderThanMs, leaseMs, limit],
  );
  return rows.map(toEvent).sort((a, b) => a.id - b.id);
}

/** The contact's events with these names at or after `since`: what flow filters are checked against. */
export async function eventsSince(q: Queryable, contactId: string, names: string[], since: string): Promise<StoredEvent[]> {
  if (names.length === 0) return [];
  const { rows } = await q.query<EventRow>(
    `SELECT * FROM events WHERE contact_id = $1 AND type = 'track' AND name = ANY($2) AND occurred_at >= $3
     ORDER BY occurred_at LIMIT 1000`,
    [contactId, names, since],
  );
  return rows.map(toEvent);
}
