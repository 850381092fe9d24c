/**
 * Contacts of a whole batch at once, for the one-transaction ingestion: created and locked in
 * one statement each, their new profiles written in one. The caller merges each contact's
 * traits in JavaScript, in call order, between the lock and the write.
 */
import { toContact, type Contact, type ContactRow } from './contacts';
import type { Queryable } from './pool';

type LockedRow = ContactRow & { merged_into: string | null };

export type LockedContact = Contact & { mergedInto: string | null };

const toLocked = (r: LockedRow): LockedContact => ({ ...toContact(r), mergedInto: r.merged_into });

/**
 * Creates the contacts that do not exist (returns their ids), then locks `lockIds` (existing
 * rows only), both in id order so two batches touching the same contacts never wait on each
 * other in a circle.
 */
export async function createAndLockContacts(
  q: Queryable,
  createIds: string[],
  lockIds: string[],
): Promise<{ created: Set<string>; locked: Map<string, LockedContact> }> {
  const { rows: created } = await q.query<{ id: string }>(
    'INSERT INTO contacts (id) SELECT id FROM unnest($1::text[]) AS id ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id',
    [createIds],
  );
  const locked = await readContacts(q, lockIds, { forUpdate: true });
  return { created: new Set(created.map((r) => r.id)), locked };
}

export async function readContacts(
  q: Queryable,
  ids: string[],
  opts: { forUpdate?: boolean } = {},
): Promise<Map<string, LockedContact>> {
  const { rows } = await q.query<LockedRow>(
    `SELECT * FROM contacts WHERE id = ANY($1) ORDER BY id${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, toLocked(r)]));
}

/** Writes each contact's whole new profile (already merged by the caller) in one statement. */
export async function writeProfiles(
  q: Queryable,
  profiles: Pick<Contact, 'id' | 'email' | 'phone' | 'traits'>[],
): Promise<void> {
  if (profiles.length === 0) return;
  await q.query(
    `UPDATE contacts AS c SET email = p.email, phone = p.phone, traits = p.traits, updated_at = now()
     FROM jsonb_to_recordset($1::jsonb) AS p(id text, email text, phone text, traits jsonb) WHERE c.id = p.id`,
    [JSON.stringify(profiles.map(({ id, email, phone, traits }) => ({ id, email, phone, traits })))],
  );
}
