/** The groups (Segment `group` calls: accounts, companies) a contact belongs to, with their traits. */
import type { Queryable } from './pool';

export interface ContactGroup {
  contactId: string;
  groupId: string;
  traits: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

interface GroupRow {
  contact_id: string;
  group_id: string;
  traits: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

/**
 * Adds the contacts to the groups, merging the traits into what each group had (one
 * statement for a whole batch; the caller merges repeated pairs beforehand, in call order).
 */
export async function upsertContactGroups(
  q: Queryable,
  rows: { contactId: string; groupId: string; traits: Record<string, unknown> }[],
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO contact_groups (contact_id, group_id, traits)
     SELECT contact_id, group_id, traits FROM jsonb_to_recordset($1::jsonb) AS g(contact_id text, group_id text, traits jsonb)
     ON CONFLICT (contact_id, group_id) DO UPDATE SET traits = contact_groups.traits || EXCLUDED.traits, updated_at = now()`,
    [JSON.stringify(rows.map((r) => ({ contact_id: r.contactId, group_id: r.groupId, traits: r.traits })))],
  );
}

export async function listContactGroups(q: Queryable, contactId: string): Promise<ContactGroup[]> {
  const { rows } = await q.query<GroupRow>('SELECT * FROM contact_groups WHERE contact_id = $1 ORDER BY group_id', [
    contactId,
  ]);
  return rows.map((r) => ({
    contactId: r.contact_id,
    groupId: r.group_id,
    traits: r.traits,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  }));
}
