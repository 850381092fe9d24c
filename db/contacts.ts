import type { Queryable } from './pool';

export interface Contact {
  id: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

interface ContactRow {
  id: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const toContact = (r: ContactRow): Contact => ({
  id: r.id,
  email: r.email,
  phone: r.phone,
  traits: r.traits,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : null);

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

export async function getContact(q: Queryable, id: string): Promise<Contact | undefined> {
  const { rows } = await q.query<ContactRow>('SELECT * FROM contacts WHERE id = $1', [id]);
  return rows[0] && toContact(rows[0]);
}
