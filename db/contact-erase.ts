/**
 * GDPR erasure of one person, in one transaction: every id they had (the contact and the ids
 * merged into it) goes from every table keyed by contact id; their messages and journeys stay
 * for the flows' statistics, but under a pseudonym, without address, rendered content or
 * delivery payloads, and the journeys say `erased`. Their addresses stay suppressed only as
 * hashes (SQL `suppression_hash`, migration 025), so a later message to the same address is still
 * refused while the address itself is no longer held. Every id erased is kept as a hash only
 * (`erased_ids`): ingestion stores nothing more for it until an admin lifts the erasure.
 */
import { randomUUID, createHash } from 'node:crypto';
import { resolveContactIds } from './contact-merge';
import type { Queryable } from './pool';

/** Tables that keep their rows (statistics) under a pseudonym; every other contact-keyed table loses them. */
const PSEUDONYMISED = ['journeys', 'messages'];

export const ERASED_REASON = 'erased';

export interface ErasurePlan {
  /** The contact and every id merged into it. */
  ids: string[];
  /** Workflow ids of the journeys still live: end them in Temporal. */
  liveWorkflows: string[];
}

/** Every id of the person `id` names (it may be an alias), and their live journeys. */
export async function planErasure(q: Queryable, id: string): Promise<ErasurePlan | undefined> {
  const canonical = (await resolveContactIds(q, [id])).get(id) ?? id;
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM contacts WHERE id = $1 OR merged_into = $1
     UNION SELECT alias_id FROM contact_aliases WHERE contact_id = $1`,
    [canonical],
  );
  if (!rows.some((r) => r.id === canonical)) return undefined;
  const ids = [...new Set([canonical, ...rows.map((r) => r.id)])];
  return { ids, liveWorkflows: await liveWorkflowsOf(q, ids) };
}

export async function liveWorkflowsOf(q: Queryable, ids: string[]): Promise<string[]> {
  const { rows } = await q.query<{ workflow_id: string }>(
    "SELECT DISTINCT workflow_id FROM journeys WHERE contact_id = ANY($1) AND status IN ('starting', 'running')",
    [ids],
  );
  return rows.map((r) => r.workflow_id);
}

/** Tables of this schema with a `contact_id` column: where contact data is keyed. */
export async function contactKeyedTables(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ table_name: string }>(
    `SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = current_schema() AND c.column_name = 'contact_id' AND t.table_type = 'BASE TABLE' ORDER BY 1`,
  );
  return rows.map((r) => r.table_name);
}

export interface ErasureResult {
  erasureId: string;
  ids: number;
  /** Rows deleted or pseudonymised per table. */
  counts: Record<string, number>;
  /** Journeys that were live when erased: the caller ends them in Temporal. */
  liveWorkflows: string[];
}

/**
 * Erases everything of these ids in the caller's transaction. The contact rows are locked
 * first, so an ingestion for them waits and, after commit, starts a new contact from nothing.
 */
export async function eraseContacts(tx: Queryable, ids: string[]): Promise<ErasureResult> {
  await tx.query('SELECT id FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE', [ids]);
  const counts: Record<string, number> = {};
  const count = (table: string, n: number | null) => (counts[table] = (counts[table] ?? 0) + (n ?? 0));

  // Journeys started between the caller's look and this lock are ended too.
  const liveWorkflows = await liveWorkflowsOf(tx, ids);
  const addresses = await addressesOf(tx, ids);

  const pseudonym = `erased:${randomUUID()}`;
  const deliveries = await tx.query(
    'DELETE FROM message_events WHERE message_id IN (SELECT id FROM messages WHERE contact_id = ANY($1))',
    [ids],
  );
  count('message_events', deliveries.rowCount);
  const messages = await tx.query(
    // A campaign message's journey_run_id is "<run>|<contact>": its contact part becomes the pseudonym too.
    `UPDATE messages SET contact_id = $2, recipient = NULL, content = NULL, send_key = NULL, lease_owner = NULL,
       journey_run_id = CASE WHEN source = 'campaign' THEN split_part(journey_run_id, '|', 1) || '|' || $2
                             ELSE journey_run_id END,
       updated_at = now()
      WHERE contact_id = ANY($1)`,
    [ids, pseudonym],
  );
  count('messages', messages.rowCount);
  const journeys = await tx.query(
    `UPDATE journeys SET contact_id = $2, workflow_id = 'journey:' || flow_id || ':' || $2, journey_key = NULL, trigger_event_id = NULL,
       steps = CASE WHEN steps IS NULL THEN NULL ELSE '[]'::jsonb END,
       status = CASE WHEN status IN ('starting', 'running') THEN 'terminated' ELSE status END,
       exit_reason = CASE WHEN status IN ('starting', 'running') THEN '${ERASED_REASON}' ELSE exit_reason END,
       exit_detail = jsonb_build_object('erased', true),
       ended_at = COALESCE(ended_at, now())
     WHERE contact_id = ANY($1)`,
    [ids, pseudonym],
  );
  count('journeys', journeys.rowCount);

  // Everything else keyed by contact, whoever owns the table (consent, lists, segments, stats…);
  // contacts last (other tables may reference it).
  for (const table of await contactKeyedTables(tx)) {
    if (PSEUDONYMISED.includes(table)) continue;
    count(table, (await tx.query(`DELETE FROM ${table} WHERE contact_id = ANY($1)`, [ids])).rowCount);
  }
  count('contact_aliases', (await tx.query('DELETE FROM contact_aliases WHERE alias_id = ANY($1)', [ids])).rowCount);
  count('contacts', (await tx.query('DELETE FROM contacts WHERE id = ANY($1)', [ids])).rowCount);

  await suppressAsHashes(tx, addresses);
  count('suppressions', addresses.length);
  const { rows } = await tx.query<{ id: string }>(
    'INSERT INTO contact_erasures (id_hash, counts) VALUES ($1, $2) RETURNING id',
    [erasedIdHash(ids[0]), counts],
  );
  // Every id of the person, so that neither their user id nor a device's anonymous id brings them back.
  await tx.query(
    `INSERT INTO erased_ids (id_hash, erasure_id) SELECT unnest($1::text[]), $2
     ON CONFLICT (id_hash) DO UPDATE SET erasure_id = EXCLUDED.erasure_id`,
    [[...new Set(ids.map(erasedIdHash))], rows[0].id],
  );
  return { erasureId: rows[0].id, ids: ids.length, counts, liveWorkflows };
}

/**
 * SQLSTATE of the trigger that refuses to create a contact for an erased id (migration 034): the net behind every
 * path that creates contacts (lists, consent, imports, a call racing the erasure).
 */
export const ERASED_ID_SQLSTATE = '23E01';
export const isErasedIdRefusal = (err: unknown): boolean =>
  err !== null && typeof err === 'object' && (err as { code?: unknown }).code === ERASED_ID_SQLSTATE;

/** How an erased id is kept: its SHA-256, never the id. */
export const erasedIdHash = (id: string): string => createHash('sha256').update(id).digest('hex');

/** Which of these ids were erased (and not lifted since). */
export async function erasedAmong(q: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const byHash = new Map(ids.map((id) => [erasedIdHash(id), id]));
  const { rows } = await q.query<{ id_hash: string }>('SELECT id_hash FROM erased_ids WHERE id_hash = ANY($1)', [
    [...byHash.keys()],
  ]);
  return new Set(rows.map((r) => byHash.get(r.id_hash)!));
}

export interface LiftedErasure {
  erasureId: string;
  erasedAt: string;
  /** Ids of that erasure accepted again (the person's user id and the anonymous ids they had). */
  ids: number;
}

/**
 * Lifts the erasure that covers `id`: every id of that erasure is accepted again (the person is
 * one person: their devices' anonymous ids come back with them). The erasure stays in the log,
 * marked lifted. Undefined when `id` is not erased.
 */
export async function liftErasure(tx: Queryable, id: string): Promise<LiftedErasure | undefined> {
  const { rows } = await tx.query<{ erasure_id: string }>('SELECT erasure_id FROM erased_ids WHERE id_hash = $1', [
    erasedIdHash(id),
  ]);
  if (!rows[0]) return undefined;
  const erasureId = rows[0].erasure_id;
  const lifted = await tx.query('DELETE FROM erased_ids WHERE erasure_id = $1', [erasureId]);
  const { rows: log } = await tx.query<{ erased_at: Date }>(
    'UPDATE contact_erasures SET lifted_at = now() WHERE id = $1 RETURNING erased_at',
    [erasureId],
  );
  return { erasureId, erasedAt: log[0].erased_at.toISOString(), ids: lifted.rowCount ?? 0 };
}

type Address = { channel: 'email' | 'sms'; address: string };

/** Every address the person had: on the profile, in the traits, and those we sent to. */
async function addressesOf(q: Queryable, ids: string[]): Promise<Address[]> {
  const { rows } = await q.query<{ channel: 'email' | 'sms'; address: string }>(
    `SELECT DISTINCT channel, address FROM (
       SELECT 'email' AS channel, lower(email) AS address FROM contacts WHERE id = ANY($1)
       UNION ALL SELECT 'email', lower(btrim(traits->>'email')) FROM contacts WHERE id = ANY($1)
       UNION ALL SELECT 'sms', phone FROM contacts WHERE id = ANY($1)
       UNION ALL SELECT 'sms', btrim(traits->>'phone') FROM contacts WHERE id = ANY($1)
       UNION ALL SELECT channel, CASE WHEN channel = 'email' THEN lower(recipient) ELSE recipient END FROM messages
         WHERE contact_id = ANY($1) AND channel IN ('email', 'sms') AND recipient IS NOT NULL
     ) AS a WHERE address IS NOT NULL AND address <> ''`,
    [ids],
  );
  return rows;
}

/**
 * Each address stays suppressed, as a hash only: existing suppressions keep their scope
 * (a hard bounce stops everything), and the erased person's addresses get at least a
 * marketing suppression, as someone who asked to be forgotten asked for no more marketing.
 */
async function suppressAsHashes(tx: Queryable, addresses: Address[]): Promise<void> {
  if (addresses.length === 0) return;
  const rows = JSON.stringify(addresses);
  await tx.query(
    `INSERT INTO suppressions (channel, address, reason, scope)
     SELECT DISTINCT ON (r.channel, suppression_hash(r.address))
            r.channel, suppression_hash(r.address), 'erased contact', COALESCE(s.scope, 'marketing')
       FROM jsonb_to_recordset($1::jsonb) AS r(channel text, address text)
       LEFT JOIN suppressions s ON s.channel = r.channel AND s.address = r.address
      -- Two spellings of one address (spaces, case) are one hash: the widest scope wins.
      ORDER BY r.channel, suppression_hash(r.address), s.scope = 'all' DESC NULLS LAST
     ON CONFLICT (channel, address) DO UPDATE SET scope = 'all' WHERE EXCLUDED.scope = 'all'`,
    [rows],
  );
  await tx.query(
    `DELETE FROM suppressions s USING jsonb_to_recordset($1::jsonb) AS r(channel text, address text)
      WHERE s.channel = r.channel AND s.address = r.address`,
    [rows],
  );
}
