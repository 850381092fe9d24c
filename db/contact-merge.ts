/**
 * Anonymous → known: merging one contact into another (Segment `alias`, or an `identify`
 * carrying both `anonymousId` and `userId`). Everything of the merged contact moves to the
 * one it is merged into (events, traits, groups, push subscriptions, messages, journeys), and its id
 * becomes an alias: `contact_aliases` maps it to the contact it now is, so journeys started
 * under the old id (their workflow input keeps it) act on the known contact.
 */
import { recomputeStats } from './contact-stats';
import { getContact, type Contact } from './contacts';
import { moveListMemberships } from './lists';
import { moveConsent } from './consent';
import type { Queryable } from './pool';

/** Longest alias chain followed; chains are flattened on every merge, so this is a safety net. */
const MAX_CHAIN = 16;

/**
 * Canonical contact id for each id: an id merged into another maps to that one (follow chains); others map to
 * themselves.
 */
export async function resolveContactIds(q: Queryable, ids: string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>(ids.map((id) => [id, id]));
  let pending = [...new Set(ids)];
  for (let hop = 0; hop < MAX_CHAIN && pending.length > 0; hop++) {
    const { rows } = await q.query<{ alias_id: string; contact_id: string }>(
      'SELECT alias_id, contact_id FROM contact_aliases WHERE alias_id = ANY($1)',
      [pending],
    );
    if (rows.length === 0) break;
    const next = new Map(rows.map((r) => [r.alias_id, r.contact_id]));
    for (const [id, current] of result) {
      const target = next.get(current);
      if (target !== undefined && target !== current) result.set(id, target);
    }
    pending = [...new Set(rows.map((r) => r.contact_id))];
  }
  return result;
}

/** One id's canonical contact id. */
export async function canonicalContactId(q: Queryable, id: string): Promise<string> {
  return (await resolveContactIds(q, [id])).get(id) ?? id;
}

export type MergeOutcome =
  | { merged: true }
  /** same: both ids are one contact already (a repeat, or a cycle such as b→a after a→b);
   *  conflict: `fromId` was merged into another known contact before, which is never undone. */
  | { merged: false; reason: 'same' | 'conflict'; contactId?: string };

/**
 * Merges contact fromId into intoId inside the caller's transaction; idempotent; records the alias even when fromId has
 * no row yet.
 */
export async function mergeContacts(tx: Queryable, fromId: string, intoId: string): Promise<MergeOutcome> {
  for (let attempt = 0; attempt < MAX_CHAIN; attempt++) {
    const ids = await resolveContactIds(tx, [fromId, intoId]);
    const into = ids.get(intoId) ?? intoId;
    const fromCanonical = ids.get(fromId) ?? fromId;
    if (fromCanonical === into) return { merged: false, reason: 'same' };
    if (fromCanonical !== fromId) return { merged: false, reason: 'conflict', contactId: fromCanonical };

    // Both rows exist and are locked in id order, so two merges (or a merge and an ingestion,
    // which locks one row) never wait on each other in a circle.
    const pair = [fromId, into].sort();
    await tx.query('INSERT INTO contacts (id) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (id) DO NOTHING', [
      pair,
    ]);
    const locked = await tx.query<{ id: string; merged_into: string | null }>(
      'SELECT id, merged_into FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE',
      [pair],
    );
    // A concurrent merge committed while we waited for the locks: decide again on what is now true.
    if (locked.rows.some((r) => r.merged_into !== null)) continue;

    await moveContact(tx, fromId, into);
    return { merged: true };
  }
  throw new Error(`merging contact ${fromId} into ${intoId}: the ids kept being merged concurrently`);
}

/**
 * For ingestion, before storing anything for `id`: the canonical contact, locked for the rest
 * of the transaction (created empty when new; `before` is then undefined). A merge of that
 * contact cannot commit until this transaction does, and one that committed while we waited
 * for the lock is followed, so an event is never stored under an id merged away meanwhile.
 */
export async function lockContact(
  tx: Queryable,
  id: string,
): Promise<{ contactId: string; before: Contact | undefined }> {
  for (let attempt = 0; attempt < MAX_CHAIN; attempt++) {
    const contactId = await canonicalContactId(tx, id);
    const created = await tx.query('INSERT INTO contacts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING RETURNING id', [
      contactId,
    ]);
    if (created.rowCount) return { contactId, before: undefined };
    const { rows } = await tx.query<{ merged_into: string | null }>(
      'SELECT merged_into FROM contacts WHERE id = $1 FOR UPDATE',
      [contactId],
    );
    if (rows[0]?.merged_into) continue;
    return { contactId, before: await getContact(tx, contactId) };
  }
  throw new Error(`contact ${id} kept being merged concurrently`);
}

/** Both rows are locked; `from` is not merged yet. */
async function moveContact(tx: Queryable, from: string, into: string): Promise<void> {
  const { rows } = await tx.query<{ id: string; traits: Record<string, unknown> }>(
    'SELECT id, traits FROM contacts WHERE id = ANY($1)',
    [[from, into]],
  );
  const traitsOf = (id: string) => rows.find((r) => r.id === id)?.traits ?? {};
  // The known contact's traits win; addresses it lacks are filled from the anonymous one.
  await tx.query(
    `UPDATE contacts AS c SET traits = $3, email = COALESCE(c.email, f.email), phone = COALESCE(c.phone, f.phone),
       created_at = LEAST(c.created_at, f.created_at), updated_at = now()
     FROM contacts AS f WHERE c.id = $2 AND f.id = $1`,
    [from, into, mergeTraits(traitsOf(from), traitsOf(into))],
  );
  for (const table of [
    'events',
    'push_subscriptions',
    'messages',
    'journeys',
    'journey_entries',
    'routing_dead_letters',
  ]) {
    await tx.query(`UPDATE ${table} SET contact_id = $2 WHERE contact_id = $1`, [from, into]);
  }
  // List memberships: where both are on a list, the earliest join remains.
  await moveListMemberships(tx, from, into);
  // Consent per channel: the more recent decision wins.
  await moveConsent(tx, from, into);
  // Segment memberships are not moved but recomputed: the merging call's router pass re-evaluates
  // every live segment for the known contact (`mergedFrom`); the anonymous side's clock finds nothing.
  await tx.query('DELETE FROM segment_members WHERE contact_id = $1', [from]);
  await tx.query('DELETE FROM segment_clocks WHERE contact_id = $1', [from]);
  // The merged contact's orders and engagement now count for the known one.
  await recomputeStats(tx, [from, into]);
  // Groups the known contact is in already keep their traits over the anonymous side's.
  await tx.query(
    `INSERT INTO contact_groups (contact_id, group_id, traits, created_at, updated_at)
     SELECT $2, group_id, traits, created_at, updated_at FROM contact_groups WHERE contact_id = $1
     ON CONFLICT (contact_id, group_id) DO UPDATE SET traits = EXCLUDED.traits || contact_groups.traits, created_at = LEAST(contact_groups.created_at, EXCLUDED.created_at)`,
    [from, into],
  );
  await tx.query('DELETE FROM contact_groups WHERE contact_id = $1', [from]);
  // Earlier aliases of `from` point at the final contact directly (chains stay one hop).
  await tx.query('UPDATE contact_aliases SET contact_id = $2 WHERE contact_id = $1', [from, into]);
  await tx.query(
    `INSERT INTO contact_aliases (alias_id, contact_id) VALUES ($1, $2)
     ON CONFLICT (alias_id) DO UPDATE SET contact_id = EXCLUDED.contact_id, merged_at = now()`,
    [from, into],
  );
  await tx.query(
    `UPDATE contacts SET traits = '{}', email = NULL, phone = NULL, merged_into = $2, updated_at = now() WHERE id = $1`,
    [from, into],
  );
}

/**
 * The known contact's traits win, except that a withdrawn consent (`…consent…: "unsubscribed"`,
 * as Shopify's `email_marketing_consent`) on the anonymous side is never overwritten by a grant:
 * which of the two is newer is unknown, and sending to someone who said no is the worse error.
 */
export function mergeTraits(from: Record<string, unknown>, into: Record<string, unknown>): Record<string, unknown> {
  const merged = { ...from, ...into };
  for (const [key, value] of Object.entries(from))
    if (/consent/i.test(key) && value === 'unsubscribed') merged[key] = value;
  return merged;
}

/**
 * A live journey of this flow (and journey key) for the contact under another workflow id than
 * `workflowId`: one started under an id since merged into this contact. The contact is in the
 * flow already, as if that journey had been started under its own id.
 */
export async function liveJourneyOfMergedId(
  q: Queryable,
  flowId: string,
  contactId: string,
  workflowId: string,
  journeyKey?: string,
): Promise<string | undefined> {
  const { rows } = await q.query<{ workflow_id: string }>(
    `SELECT workflow_id FROM journeys
      WHERE contact_id = $1 AND flow_id = $2 AND status IN ('starting', 'running') AND workflow_id <> $3 AND journey_key IS NOT DISTINCT FROM $4
      LIMIT 1`,
    [contactId, flowId, workflowId, journeyKey ?? null],
  );
  return rows[0]?.workflow_id;
}
