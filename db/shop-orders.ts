/** Orders that reached us from a shop's webhooks, found by the shop's own ids. */
import { EVENTS } from '../flows/event-names';
import type { Queryable } from './pool';

/** The contact whose Order Completed from this source carried this order id, if it reached us. */
export async function findOrderContact(
  q: Queryable,
  source: 'shopify' | 'woocommerce',
  orderId: string,
): Promise<string | undefined> {
  const { rows } = await q.query<{ contact_id: string }>(
    `SELECT contact_id FROM events
      WHERE type = 'track' AND name = $1 AND properties->>'order_id' = $2 AND context->'source'->>'name' = $3
      ORDER BY id LIMIT 1`,
    [EVENTS.orderCompleted, orderId, source],
  );
  return rows[0]?.contact_id;
}
