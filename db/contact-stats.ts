/**
 * Computed attributes of a contact (order count, total spent, last order, last open, last
 * click), kept incrementally: `applyStats` runs in the transaction that stores events, on the
 * events that transaction stored (never on duplicates), so each event counts exactly once.
 * `recomputeStats` rebuilds them from the stored events (a backfill, a merge, an erasure).
 */
import type { StoredEvent } from './events';
import type { Db, Queryable } from './pool';
import { EVENTS } from '../flows/event-names';

export const ORDER_COMPLETED = EVENTS.orderCompleted;
export const EMAIL_OPENED = EVENTS.emailOpened;
export const EMAIL_CLICKED = EVENTS.emailClicked;
const COUNTED: string[] = [ORDER_COMPLETED, EMAIL_OPENED, EMAIL_CLICKED];

export interface ContactStats {
  orderCount: number;
  totalSpent: number;
  firstOrderAt: string | null;
  lastOrderAt: string | null;
  lastOpenAt: string | null;
  lastClickAt: string | null;
}

// What an order is worth is the SQL function `order_value` (migration 026), the one rule flow and campaign revenue use.
const AMOUNT = `CASE WHEN name = '${ORDER_COMPLETED}' THEN order_value(properties) ELSE 0 END`;
const AGGREGATES = `
  count(*) FILTER (WHERE name = '${ORDER_COMPLETED}')::int,
  COALESCE(sum(amount) FILTER (WHERE name = '${ORDER_COMPLETED}'), 0),
  min(occurred_at) FILTER (WHERE name = '${ORDER_COMPLETED}'),
  max(occurred_at) FILTER (WHERE name = '${ORDER_COMPLETED}'),
  max(occurred_at) FILTER (WHERE name = '${EMAIL_OPENED}'),
  max(occurred_at) FILTER (WHERE name = '${EMAIL_CLICKED}')`;
const COLUMNS = 'contact_id, order_count, total_spent, first_order_at, last_order_at, last_open_at, last_click_at';

/**
 * Whether storing this event changes the computed attributes (the store's one-statement path leaves those to the
 * transaction).
 */
export const countsInStats = (event: { type: string; name?: string | null }): boolean =>
  event.type === 'track' && !!event.name && COUNTED.includes(event.name);

/**
 * Adds freshly stored events to their contacts' stats, in one statement. Call it in the
 * transaction that stored them, with only the events it stored (not the duplicates).
 */
export async function applyStats(
  tx: Queryable,
  events: Pick<StoredEvent, 'type' | 'contactId' | 'name' | 'properties' | 'occurredAt'>[],
): Promise<void> {
  const counted = events.filter((e) => e.type === 'track' && e.name !== null && COUNTED.includes(e.name));
  if (counted.length === 0) return;
  const rows = counted.map((e) => ({
    contact_id: e.contactId,
    name: e.name,
    properties: e.name === ORDER_COMPLETED ? e.properties : {},
    occurred_at: e.occurredAt,
  }));
  // Rows in contact order: two transactions updating the same contacts never wait in a circle.
  await tx.query(
    `INSERT INTO contact_stats (${COLUMNS})
     SELECT contact_id, ${AGGREGATES}
     FROM (SELECT contact_id, name, occurred_at, ${AMOUNT} AS amount
             FROM jsonb_to_recordset($1::jsonb) AS e(contact_id text, name text, properties jsonb, occurred_at timestamptz)) AS e
     GROUP BY contact_id ORDER BY contact_id
     ON CONFLICT (contact_id) DO UPDATE SET
       order_count = contact_stats.order_count + EXCLUDED.order_count,
       total_spent = contact_stats.total_spent + EXCLUDED.total_spent,
       first_order_at = LEAST(contact_stats.first_order_at, EXCLUDED.first_order_at),
       last_order_at = GREATEST(contact_stats.last_order_at, EXCLUDED.last_order_at),
       last_open_at = GREATEST(contact_stats.last_open_at, EXCLUDED.last_open_at),
       last_click_at = GREATEST(contact_stats.last_click_at, EXCLUDED.last_click_at),
       updated_at = now()`,
    [JSON.stringify(rows)],
  );
}

/** Rebuilds these contacts' stats from their stored events (a contact without such events has none). */
export async function recomputeStats(q: Queryable, contactIds: string[]): Promise<void> {
  if (contactIds.length === 0) return;
  await q.query('DELETE FROM contact_stats WHERE contact_id = ANY($1)', [contactIds]);
  await q.query(
    `INSERT INTO contact_stats (${COLUMNS})
     SELECT contact_id, ${AGGREGATES}
     FROM (SELECT contact_id, name, occurred_at, ${AMOUNT} AS amount FROM events
           WHERE contact_id = ANY($1) AND type = 'track' AND name = ANY($2)) AS e
     GROUP BY contact_id ORDER BY contact_id`,
    [contactIds, COUNTED],
  );
}

/**
 * Rebuilds every contact's stats from the events, a page of contacts at a time (each page its
 * own short transaction): for a database that had events before this table existed.
 */
export async function backfillStats(
  db: Db,
  opts: { pageSize?: number; onPage?: (done: number) => void } = {},
): Promise<number> {
  const pageSize = opts.pageSize ?? 5_000;
  let after = '';
  let done = 0;
  for (;;) {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM contacts WHERE id > $1 ORDER BY id LIMIT $2', [
      after,
      pageSize,
    ]);
    if (rows.length === 0) return done;
    await recomputeStats(
      db,
      rows.map((r) => r.id),
    );
    done += rows.length;
    after = rows[rows.length - 1].id;
    opts.onPage?.(done);
  }
}

export async function getStats(q: Queryable, contactId: string): Promise<ContactStats> {
  const { rows } = await q.query<{
    order_count: number;
    total_spent: string;
    first_order_at: Date | null;
    last_order_at: Date | null;
    last_open_at: Date | null;
    last_click_at: Date | null;
  }>('SELECT * FROM contact_stats WHERE contact_id = $1', [contactId]);
  const r = rows[0];
  return {
    orderCount: r?.order_count ?? 0,
    totalSpent: r ? Number(r.total_spent) : 0,
    firstOrderAt: r?.first_order_at?.toISOString() ?? null,
    lastOrderAt: r?.last_order_at?.toISOString() ?? null,
    lastOpenAt: r?.last_open_at?.toISOString() ?? null,
    lastClickAt: r?.last_click_at?.toISOString() ?? null,
  };
}
