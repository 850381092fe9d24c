import { groupCallsPer } from './group-commit';
import type { Queryable } from './pool';

/** Page and screen calls are stored as track events; group and alias calls as themselves (never routed). */
export type EventType = 'track' | 'identify' | 'group' | 'alias';

export interface StoredEvent {
  id: number;
  messageId: string;
  type: EventType;
  contactId: string;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
  routedAt: string | null;
  routingResult: unknown;
}

export interface EventRow {
  id: number;
  message_id: string;
  type: EventType;
  contact_id: string;
  name: string | null;
  properties: Record<string, unknown>;
  context: Record<string, unknown>;
  occurred_at: Date;
  received_at: Date;
  routed_at: Date | null;
  routing_result: unknown;
}

export const toEvent = (r: EventRow): StoredEvent => ({
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
  type: EventType;
  contactId: string;
  name?: string;
  properties?: Record<string, unknown>;
  context?: Record<string, unknown>;
  occurredAt: string;
}

/**
 * Stores an event once per messageId; a repeat returns the stored one with `duplicate: true`.
 * `routeWithinMs`: the caller routes it inline, so the router loop leaves it alone that long
 * (the inline attempt's lease); without it the loop routes it at once (step-made changes).
 */
export async function insertEvent(
  q: Queryable,
  e: NewEvent,
  opts: { routeWithinMs?: number } = {},
): Promise<{ event: StoredEvent; duplicate: boolean }> {
  const inserted = await q.query<EventRow>(
    `INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, next_route_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8 / 1000.0))
     ON CONFLICT (message_id) DO NOTHING RETURNING *`,
    [
      e.messageId,
      e.type,
      e.contactId,
      e.name ?? null,
      e.properties ?? {},
      e.context ?? {},
      e.occurredAt,
      opts.routeWithinMs ?? 0,
    ],
  );
  if (inserted.rows[0]) return { event: toEvent(inserted.rows[0]), duplicate: false };
  const existing = await q.query<EventRow>('SELECT * FROM events WHERE message_id = $1', [e.messageId]);
  return { event: toEvent(existing.rows[0]), duplicate: true };
}

/** Events as the rows of `jsonb_to_recordset`, numbered in the order given. */
const recordset = (events: NewEvent[]) =>
  JSON.stringify(
    events.map((e, ord) => ({
      ord,
      message_id: e.messageId,
      type: e.type,
      contact_id: e.contactId,
      name: e.name ?? null,
      properties: e.properties ?? {},
      context: e.context ?? {},
      occurred_at: e.occurredAt,
    })),
  );

/**
 * Stores many events in one statement, in the order given (ids follow it, so routing in id
 * order keeps each contact's order). A messageId already stored is skipped: the rows returned
 * are the ones this call inserted.
 */
export async function insertEvents(
  q: Queryable,
  events: NewEvent[],
  opts: { routeWithinMs?: number } = {},
): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const rows = recordset(events);
  const { rows: inserted } = await q.query<EventRow>(
    `INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, next_route_at)
     SELECT message_id, type, contact_id, name, properties, context, occurred_at, now() + make_interval(secs => $2 / 1000.0)
     FROM jsonb_to_recordset($1::jsonb) AS e(ord int, message_id text, type text, contact_id text, name text, properties jsonb, context jsonb, occurred_at timestamptz)
     ORDER BY ord
     ON CONFLICT (message_id) DO NOTHING RETURNING *`,
    [rows, opts.routeWithinMs ?? 0],
  );
  return inserted.map(toEvent).sort((a, b) => a.id - b.id);
}

/**
 * The batch path of calls that only add events (no traits, no merges, no groups), in ONE
 * statement and one round trip instead of a transaction of eight: the messageIds stored
 * before, each contact resolved through its alias, the new contacts created, the existing
 * ones locked (in id order, after the creation: the same order as the general path, so the
 * two never deadlock), then the events inserted in the order given.
 *
 * The events are inserted only when every contact is safe to write to: not merged into
 * another since the alias lookup (a merge that committed while we waited for its lock), and
 * neither created nor visible to this statement (created meanwhile by another transaction,
 * perhaps a merge) is not safe either. Otherwise nothing but empty contacts is written and
 * undefined is returned: the caller takes the general path, which looks again until it is.
 */
export async function insertNewEvents(
  q: Queryable,
  events: NewEvent[],
  opts: { routeWithinMs?: number } = {},
): Promise<{ inserted: StoredEvent[]; existing: Map<string, StoredEvent> } | undefined> {
  if (events.length === 0) return { inserted: [], existing: new Map() };
  const rows = recordset(events);
  const { rows: result } = await q.query<{ ok: boolean; source: 'inserted' | 'existing' | null } & EventRow>({
    // Planned at every call, never a named (prepared) statement: Postgres caches a prepared
    // statement's generic plan, planned for the tables as they were then; planned while events
    // was small it scanned the whole table for the duplicates (77 ms of 89 at 6,000 events,
    // growing with the table). Planning it costs well under a millisecond.
    text: `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(ord int, message_id text, type text, contact_id text, name text, properties jsonb, context jsonb, occurred_at timestamptz)),
     existing AS MATERIALIZED (SELECT * FROM events WHERE message_id = ANY (ARRAY(SELECT message_id FROM input))),
     fresh AS MATERIALIZED (
       SELECT i.*, COALESCE(a.contact_id, i.contact_id) AS final_id
       FROM input i LEFT JOIN contact_aliases a ON a.alias_id = i.contact_id
       WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.message_id = i.message_id)),
     created AS (
       INSERT INTO contacts (id) SELECT DISTINCT final_id FROM fresh ORDER BY 1 ON CONFLICT (id) DO NOTHING RETURNING id),
     locked AS MATERIALIZED (
       SELECT id, merged_into FROM contacts
       WHERE id = ANY (ARRAY(SELECT final_id FROM fresh)) AND (SELECT count(*) FROM created) >= 0
       ORDER BY id FOR UPDATE),
     safe AS MATERIALIZED (
       SELECT NOT EXISTS (SELECT 1 FROM locked WHERE merged_into IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.final_id NOT IN (SELECT id FROM created) AND f.final_id NOT IN (SELECT id FROM locked)) AS ok),
     inserted AS (
       INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, next_route_at)
       SELECT message_id, type, final_id, name, properties, context, occurred_at, now() + make_interval(secs => $2 / 1000.0)
       FROM fresh WHERE (SELECT ok FROM safe)
       ORDER BY ord
       ON CONFLICT (message_id) DO NOTHING RETURNING *)
     SELECT s.ok, r.* FROM safe s LEFT JOIN (
       SELECT 'inserted' AS source, i.* FROM inserted i UNION ALL SELECT 'existing', x.* FROM existing x) r ON true`,
    values: [rows, opts.routeWithinMs ?? 0],
  });
  if (!result[0]?.ok) return undefined;
  const inserted: StoredEvent[] = [];
  const existing = new Map<string, StoredEvent>();
  for (const row of result) {
    if (row.source === 'inserted') inserted.push(toEvent(row));
    else if (row.source === 'existing') existing.set(row.message_id, toEvent(row));
  }
  return { inserted: inserted.sort((a, b) => a.id - b.id), existing };
}

/** The stored events with these messageIds (duplicates of a batch, in one query). */
export async function eventsByMessageIds(q: Queryable, messageIds: string[]): Promise<Map<string, StoredEvent>> {
  if (messageIds.length === 0) return new Map();
  const { rows } = await q.query<EventRow>('SELECT * FROM events WHERE message_id = ANY($1)', [messageIds]);
  return new Map(rows.map((r) => [r.message_id, toEvent(r)]));
}

export async function eventExists(q: Queryable, messageId: string): Promise<boolean> {
  return ((await q.query('SELECT 1 FROM events WHERE message_id = $1', [messageId])).rowCount ?? 0) > 0;
}

export interface RoutedMark {
  id: number;
  result: unknown;
  error: string | null;
}

/**
 * Many events routed, in one statement. Committed without waiting for the WAL flush (the
 * setting holds for this statement's transaction only): a mark a Postgres crash loses leaves
 * the event unrouted, and the router loop routes it again, which changes nothing (entries are
 * decided once, journeys ignore an event id they have seen). A flush per mark would make the
 * requests storing events wait behind it.
 */
export async function markRoutedMany(q: Queryable, marks: RoutedMark[]): Promise<void> {
  if (marks.length === 0) return;
  await q.query(
    `WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true))
     UPDATE events e SET routed_at = now(), routing_result = m.result, routing_error = m.error, next_route_at = NULL,
       routing_claimed_at = NULL
     FROM jsonb_to_recordset($1::jsonb) AS m(id bigint, result jsonb, error text), unflushed WHERE e.id = m.id`,
    [JSON.stringify(marks.map((m) => ({ id: m.id, result: m.result ?? null, error: m.error })))],
  );
}

// Marks made while one is being written go together in the next statement (db/group-commit.ts).
const markGrouped = groupCallsPer(async (q: Queryable, marks: RoutedMark[]) => {
  await markRoutedMany(q, marks);
  return marks.map(() => undefined);
});

/**
 * Routing finished; `error` keeps what failed for good (a journey gone or full) for support.
 * Written with the marks of the other events being routed at the same moment, in one
 * statement; resolved once this one is written.
 */
export function markRouted(q: Queryable, id: number, result: unknown, error: string | null = null): Promise<void> {
  return markGrouped(q, { id, result, error });
}

/**
 * Routing must be tried again: after `retryInMs`, or by default after a backoff on the
 * attempts so far (0.5 s doubling, at most a minute), so a stubborn event does not spin. The
 * router's claim ends here: what is left is a backoff, which releaseBackedOff may cut short.
 */
export async function markRoutingFailed(q: Queryable, id: number, error: string, retryInMs?: number): Promise<void> {
  await q.query(
    `UPDATE events SET routing_error = $2, routing_attempts = routing_attempts + 1, routing_claimed_at = NULL,
       next_route_at = now() + make_interval(secs => COALESCE($3, least(500 * 2 ^ least(routing_attempts, 7), 60000)) / 1000.0)
     WHERE id = $1 AND routed_at IS NULL`,
    [id, error, retryInMs ?? null],
  );
}

/**
 * A routing attempt failed for a reason that is not an outage: like markRoutingFailed, and
 * counted against the event's failure budget. Returns the failures so far (undefined when the
 * event was routed meanwhile).
 */
export async function countRoutingFailure(q: Queryable, id: number, error: string): Promise<number | undefined> {
  const { rows } = await q.query<{ routing_failures: number }>(
    `UPDATE events SET routing_error = $2, routing_attempts = routing_attempts + 1, routing_failures = routing_failures + 1,
       routing_claimed_at = NULL,
       next_route_at = now() + make_interval(secs => least(500 * 2 ^ least(routing_attempts, 7), 60000) / 1000.0)
     WHERE id = $1 AND routed_at IS NULL RETURNING routing_failures`,
    [id, error],
  );
  return rows[0]?.routing_failures;
}

/**
 * Temporal is back: events held back by a backoff during the outage are due at once. Only
 * backoffs: an event claimed by a router (in this process or another) keeps its lease, or a
 * second router would route it while the first still is (an entry "being decided by another
 * router", counted against the event's failure budget, and the contact's order no longer held
 * by one router).
 */
export async function releaseBackedOff(q: Queryable): Promise<number> {
  const { rowCount } = await q.query(
    `UPDATE events SET next_route_at = now()
     WHERE routed_at IS NULL AND routing_attempts > 0 AND next_route_at > now() AND routing_claimed_at IS NULL`,
  );
  return rowCount ?? 0;
}

/**
 * Claims events whose routing is due (never tried, an inline attempt's lease ran out, a retry's
 * backoff passed), oldest first. A claim holds the event for `leaseMs`; SKIP LOCKED and the
 * lease keep two routers (API and worker processes) from routing one event at once.
 *
 * A contact's events are routed in order: an event is claimed only with every earlier unrouted
 * event of its contact in the same claim. One whose earlier event waits for a retry, is being
 * routed (leased by a request or another router) or is locked by a concurrent claim stays.
 */
export async function claimUnrouted(q: Queryable, leaseMs: number, limit: number): Promise<StoredEvent[]> {
  const { rows } = await q.query<EventRow>(
    `WITH candidates AS (
       SELECT id, contact_id FROM events e
       WHERE routed_at IS NULL AND (next_route_at IS NULL OR next_route_at <= now())
         AND NOT EXISTS (SELECT 1 FROM events p WHERE p.contact_id = e.contact_id AND p.id < e.id AND p.routed_at IS NULL AND p.next_route_at > now())
       ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),
     in_order AS (
       SELECT c.id FROM candidates c
       WHERE NOT EXISTS (SELECT 1 FROM events p WHERE p.contact_id = c.contact_id AND p.id < c.id AND p.routed_at IS NULL AND p.id NOT IN (SELECT id FROM candidates)))
     UPDATE events SET routing_claimed_at = now(), next_route_at = now() + make_interval(secs => $1 / 1000.0)
     WHERE id IN (SELECT id FROM in_order)
     RETURNING *`,
    [leaseMs, limit],
  );
  return rows.map(toEvent).sort((a, b) => a.id - b.id);
}

/** Routing state of one event (tests and support). */
export async function getEvent(
  q: Queryable,
  id: number,
): Promise<(StoredEvent & { routingError: string | null; routingAttempts: number }) | undefined> {
  const { rows } = await q.query<EventRow & { routing_error: string | null; routing_attempts: number }>(
    'SELECT * FROM events WHERE id = $1',
    [id],
  );
  return rows[0]
    ? { ...toEvent(rows[0]), routingError: rows[0].routing_error, routingAttempts: rows[0].routing_attempts }
    : undefined;
}

/** How many events a contact's conditions look at, at most: the newest ones count. */
export const EVENTS_LOOKED_AT = 1000;

/**
 * The contact's events with these names at or after `since`: what flow filters are checked
 * against. The newest ones, oldest first: "ordered in the last week" must see last week's
 * order even for a contact with thousands of older events.
 */
export async function eventsSince(
  q: Queryable,
  contactId: string,
  names: string[],
  since: string,
): Promise<StoredEvent[]> {
  if (names.length === 0) return [];
  const { rows } = await q.query<EventRow>(
    `SELECT * FROM events WHERE contact_id = $1 AND type = 'track' AND name = ANY($2) AND occurred_at >= $3
     ORDER BY occurred_at DESC, id DESC LIMIT ${EVENTS_LOOKED_AT}`,
    [contactId, names, since],
  );
  return rows.map(toEvent).reverse();
}
