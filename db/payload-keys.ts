/**
 * Per-contact secrets of the payload codec (db/payload-codec.ts) and the contact a
 * workflow's payloads belong to. Erasure deletes a contact's key with the rest of its rows.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from './pool';

export interface ContactKey {
  keyId: string;
  secret: Buffer;
}

/** The contact's key, made on first use (two processes making it at once get the same one). */
export async function contactKey(q: Queryable, contactId: string): Promise<ContactKey> {
  const { rows } = await q.query<{ key_id: string; secret: Buffer }>(
    `WITH made AS (
       INSERT INTO contact_keys (contact_id, secret) VALUES ($1, $2) ON CONFLICT (contact_id) DO NOTHING
       RETURNING key_id, secret
     )
     SELECT key_id, secret FROM made UNION ALL SELECT key_id, secret FROM contact_keys WHERE contact_id = $1`,
    [contactId, randomBytes(32)],
  );
  return { keyId: rows[0].key_id, secret: rows[0].secret };
}

/** A key by its id; undefined once its contact was erased. */
export async function keyById(q: Queryable, keyId: string): Promise<ContactKey | undefined> {
  const { rows } = await q.query<{ secret: Buffer }>('SELECT secret FROM contact_keys WHERE key_id = $1', [keyId]);
  return rows[0] ? { keyId, secret: rows[0].secret } : undefined;
}

/** The contact whose journey this workflow is (its row is written before the journey starts). */
export async function contactOfJourneyWorkflow(q: Queryable, workflowId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ contact_id: string }>(
    'SELECT contact_id FROM journeys WHERE workflow_id = $1 ORDER BY started_at DESC LIMIT 1',
    [workflowId],
  );
  return rows[0]?.contact_id;
}
