import type { Queryable } from './pool';

export interface MessageEventInput {
  messageId: string;
  source: 'sendgrid' | 'twilio' | 'tracking' | 'unsubscribe';
  sourceEventId: string;
  type: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

export interface MessageEventRecord extends MessageEventInput {
  id: number;
}

/** Stores a provider event once; false when it was seen before (webhooks are delivered at least once). */
export async function insertMessageEvent(q: Queryable, e: MessageEventInput): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO message_events (message_id, source, source_event_id, type, occurred_at, data)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, source_event_id) DO NOTHING`,
    [e.messageId, e.source, e.sourceEventId, e.type, e.occurredAt, e.data],
  );
  return rowCount === 1;
}

// Delivery statuses only move forward: a late "processed" never overwrites "delivered".
const RANK: Record<string, number> = {
  queued: 1,
  processed: 1,
  sent: 2,
  deferred: 2,
  delivered: 3,
  undelivered: 4,
  failed: 4,
  dropped: 4,
  bounce: 4,
};
const FIRST_TIME_COLUMN: Record<string, string> = {
  delivered: 'delivered_at',
  open: 'opened_at',
  click: 'clicked_at',
  bounce: 'bounced_at',
  unsubscribe: 'unsubscribed_at',
  group_unsubscribe: 'unsubscribed_at',
  spamreport: 'unsubscribed_at',
};

/** Keeps the message's first delivered/opened/clicked/bounced/unsubscribed times and its delivery status. */
export async function applyToMessage(q: Queryable, messageId: string, type: string, occurredAt: string): Promise<void> {
  const column = FIRST_TIME_COLUMN[type];
  if (column)
    await q.query(`UPDATE messages SET ${column} = COALESCE(${column}, $2) WHERE id = $1`, [messageId, occurredAt]);
  // A click implies an open: Apple Mail privacy and image blocking hide many opens.
  if (type === 'click')
    await q.query('UPDATE messages SET opened_at = COALESCE(opened_at, $2) WHERE id = $1', [messageId, occurredAt]);
  const rank = RANK[type];
  if (rank !== undefined) {
    await q.query(
      `UPDATE messages SET delivery_status = $2 WHERE id = $1 AND (delivery_status IS NULL OR $3 >= CASE delivery_status ${Object.entries(
        RANK,
      )
        .map(([status, r]) => `WHEN '${status}' THEN ${r}`)
        .join(' ')} ELSE 0 END)`,
      [messageId, type, rank],
    );
  }
}

export async function listMessageEvents(q: Queryable, messageIds: string[]): Promise<MessageEventRecord[]> {
  if (messageIds.length === 0) return [];
  const { rows } = await q.query<{
    id: number;
    message_id: string;
    source: MessageEventInput['source'];
    source_event_id: string;
    type: string;
    occurred_at: Date;
    data: Record<string, unknown>;
  }>('SELECT * FROM message_events WHERE message_id = ANY($1) ORDER BY occurred_at, id', [messageIds]);
  return rows.map((r) => ({
    id: r.id,
    messageId: r.message_id,
    source: r.source,
    sourceEventId: r.source_event_id,
    type: r.type,
    occurredAt: r.occurred_at.toISOString(),
    data: r.data,
  }));
}
