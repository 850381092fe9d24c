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

/** A key by its id; undefined once its contact was erased. */
export async function keyById(q: Queryable, keyId: string): Promise<ContactKey | undefined> {
  const { rows } = await q.query<{ secret: Buffer }>('SELECT secret FROM contact_keys WHERE key_id = $1', [keyId]);
  return rows[0] ? { keyId, secret: rows[0].secret } : undefined;
}

/**
 * The key of the contact whose journey this workflow is, made on first use, in one round trip (a journey start
 * encodes its input on the routing path). Undefined when no journey row names the workflow.
 */
export async function journeyWorkflowKey(
  q: Queryable,
  workflowId: string,
): Promise<{ contactId: string; key: ContactKey } | undefined> {
  const { rows } = await q.query<{ contact_id: string; key_id: string; secret: Buffer }>(
    `WITH owner AS (SELECT contact_id FROM journeys WHERE workflow_id = $1 ORDER BY started_at DESC LIMIT 1),
     made AS (
       INSERT INTO contact_keys (contact_id, secret) SELECT contact_id, $2 FROM owner
       ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id, key_id, secret
     )
     SELECT contact_id, key_id, secret FROM made
     UNION ALL SELECT k.contact_id, k.key_id, k.secret FROM contact_keys k JOIN owner USING (contact_id)`,
    [workflowId, randomBytes(32)],
  );
  return rows[0] && { contactId: rows[0].contact_id, key: { keyId: rows[0].key_id, secret: rows[0].secret } };
}
