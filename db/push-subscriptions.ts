import type { Queryable } from './pool';

/** A browser's push subscription as stored, and as web push steps send to it (activities/providers/types.ts). */
export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export async function savePushSubscription(q: Queryable, contactId: string, sub: PushSubscription): Promise<void> {
  await q.query(
    `INSERT INTO push_subscriptions (endpoint, contact_id, keys) VALUES ($1, $2, $3)
     ON CONFLICT (endpoint) DO UPDATE SET contact_id = EXCLUDED.contact_id, keys = EXCLUDED.keys`,
    [sub.endpoint, contactId, sub.keys],
  );
}

export async function pushSubscriptionsOf(q: Queryable, contactId: string): Promise<PushSubscription[]> {
  const { rows } = await q.query<PushSubscription>(
    'SELECT endpoint, keys FROM push_subscriptions WHERE contact_id = $1 ORDER BY created_at',
    [contactId],
  );
  return rows;
}

export async function deletePushSubscriptions(q: Queryable, endpoints: string[]): Promise<void> {
  if (endpoints.length > 0) await q.query('DELETE FROM push_subscriptions WHERE endpoint = ANY($1)', [endpoints]);
}
