import type { Queryable } from './pool';

export interface Contact {
  id: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface ContactRow {
  id: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export const toContact = (r: ContactRow): Contact => ({
  id: r.id,
  email: r.email,
  phone: r.phone,
  traits: r.traits,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const text = (value: unknown): string | null =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : null;

/** Creates the contact or merges new traits into it; `email`/`phone` traits become its addresses. */
export async function upsertContact(q: Queryable, id: string, traits: Record<string, unknown> = {}): Promise<Contact> {
  const { rows } = await q.query<ContactRow>(
    `INSERT INTO contacts (id, email, phone, traits) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET
       email = COALESCE(EXCLUDED.email, contacts.email),
       phone = COALESCE(EXCLUDED.phone, contacts.phone),
       traits = contacts.traits || EXCLUDED.traits,
       updated_at = CASE WHEN EXCLUDED.traits = '{}'::jsonb THEN contacts.updated_at ELSE now() END
     RETURNING *`,
    [id, text(traits.email)?.toLowerCase() ?? null, text(traits.phone), traits],
  );
  return toContact(rows[0]);
}

export async function getContact(
  q: Queryable,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Contact | undefined> {
  const { rows } = await q.query<ContactRow>(
    `SELECT * FROM contacts WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toContact(rows[0]);
}

export interface ProfileUpdate {
  set?: Record<string, unknown>;
  unset?: string[];
  addTags?: string[];
  removeTags?: string[];
  /** Points added to the `lead_score` trait. */
  score?: number;
}

/** Applies an update under a row lock and returns the profile before and after. */
export async function updateProfile(
  tx: Queryable,
  id: string,
  update: ProfileUpdate,
): Promise<{ before: Contact; after: Contact }> {
  await tx.query('INSERT INTO contacts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [id]);
  const { rows } = await tx.query<ContactRow>('SELECT * FROM contacts WHERE id = $1 FOR UPDATE', [id]);
  const before = toContact(rows[0]);
  const traits: Record<string, unknown> = { ...before.traits, ...update.set };
  for (const key of update.unset ?? []) delete traits[key];
  if (update.addTags || update.removeTags) {
    const tags = new Set(Array.isArray(traits.tags) ? traits.tags.map(String) : []);
    update.addTags?.forEach((t) => tags.add(t));
    update.removeTags?.forEach((t) => tags.delete(t));
    traits.tags = [...tags];
  }
  if (update.score)
    traits.lead_score =
      (typeof traits.lead_score === 'number' ? traits.lead_score : Number(traits.lead_score) || 0) + update.score;
  const updated = await tx.query<ContactRow>(
    'UPDATE contacts SET traits = $2, email = $3, phone = $4, updated_at = now() WHERE id = $1 RETURNING *',
    [id, traits, text(traits.email)?.toLowerCase() ?? null, text(traits.phone)],
  );
  return { before, after: toContact(updated.rows[0]) };
}

/**
 * The `locale` trait of the contacts with this phone number, most recently updated first: what an
 * SMS keyword reply speaks (one number, usually one person).
 */
export async function localesOfPhone(q: Queryable, phone: string): Promise<unknown[]> {
  const { rows } = await q.query<{ locale: unknown }>(
    `SELECT traits->'locale' AS locale FROM contacts
      WHERE phone = $1 AND merged_into IS NULL AND traits ? 'locale'
      ORDER BY updated_at DESC, id LIMIT 5`,
    [phone],
  );
  return rows.map((r) => r.locale);
}

/** Contacts not merged away and merged ones alike: the base a new segment's build walks (its progress total). */
export async function countContacts(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM contacts');
  return rows[0].n;
}

/**
 * The contact that has each address (the oldest when several do), among contacts not merged away: an imported row
 * without a user id lands on it.
 */
export async function contactIdsByAddress(
  q: Queryable,
  column: 'email' | 'phone',
  values: string[],
): Promise<Map<string, string>> {
  if (values.length === 0) return new Map<string, string>();
  const { rows } = await q.query<{ address: string; id: string }>(
    `SELECT DISTINCT ON (${column}) ${column} AS address, id FROM contacts
     WHERE ${column} = ANY($1) AND merged_into IS NULL ORDER BY ${column}, created_at, id`,
    [values],
  );
  return new Map(rows.map((r) => [r.address, r.id]));
}
