/**
 * WooCommerce webhooks (REST API v3 resources) onto the Segment e-commerce spec. Pure, like
 * the Shopify mapping.
 *
 * | topic | calls |
 * | --- | --- |
 * | order.created, order.updated | status processing or completed: track Order Completed, once per order; status
 * refunded: track Order Refunded, once per order; other statuses: nothing |
 * | customer.created | identify, then track Signed Up |
 * | customer.updated | identify |
 *
 * WooCommerce sends order.updated on every change of an order (notes, status, stock), so the
 * order's events get message ids built from the shop and the order id, not from the delivery:
 * the order is completed once whichever delivery says so first. Customer calls use
 * X-WC-Webhook-Delivery-ID, which a redelivery keeps. Contact: the customer id (customer_id,
 * 0 for guests), else the billing email.
 */
import { z } from 'zod';
import {
  amount,
  compact,
  payloadInstant,
  shopContactId,
  SHOP_EVENTS,
  type ConnectorOutcome,
  type SegmentCall,
  type SegmentProduct,
  type SourceContext,
} from './segment';

export const WOOCOMMERCE_TOPICS = ['order.created', 'order.updated', 'customer.created', 'customer.updated'] as const;
export type WooCommerceTopic = (typeof WOOCOMMERCE_TOPICS)[number];
export const isWooCommerceTopic = (topic: string): topic is WooCommerceTopic =>
  (WOOCOMMERCE_TOPICS as readonly string[]).includes(topic);

/** Statuses of an order that has been paid for (processing) or shipped (completed). */
const COMPLETED_STATUSES = new Set(['processing', 'completed']);

const id = z.union([z.string(), z.number()]).transform(String);
const text = z.string().nullish();
const money = z.union([z.string(), z.number()]).nullish();
const address = z
  .looseObject({
    first_name: text,
    last_name: text,
    address_1: text,
    city: text,
    state: text,
    postcode: text,
    country: text,
    email: text,
    phone: text,
  })
  .nullish();

const order = z.looseObject({
  id,
  number: text,
  status: z.string(),
  currency: text,
  total: money,
  total_tax: money,
  shipping_total: money,
  discount_total: money,
  customer_id: z.number().default(0),
  date_paid_gmt: text,
  date_modified_gmt: text,
  billing: address,
  coupon_lines: z.array(z.looseObject({ code: text })).nullish(),
  line_items: z
    .array(
      z.looseObject({
        product_id: id.nullish(),
        variation_id: id.nullish(),
        sku: text,
        name: text,
        price: money,
        quantity: z.number().nullish(),
      }),
    )
    .default([]),
  refunds: z.array(z.looseObject({ id, total: money, reason: text })).default([]),
});
type WooOrder = z.infer<typeof order>;

const customer = z.looseObject({
  id,
  email: text,
  first_name: text,
  last_name: text,
  username: text,
  role: text,
  is_paying_customer: z.boolean().nullish(),
  date_created_gmt: text,
  billing: address,
});

export interface WooCommerceDelivery {
  topic: WooCommerceTopic;
  deliveryId: string;
  /** X-WC-Webhook-Source: the shop's URL, so two shops' order ids never collide. */
  source?: string;
}

function shopHost(url: string | undefined): string {
  if (!url) return 'shop';
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** WooCommerce writes GMT times without a zone ("2017-03-22T16:28:08"); one it cannot mean is a 400 naming it. */
const gmt = (field: string, value: string | null | undefined) =>
  value ? payloadInstant([field], `${value.replace(/Z$/, '')}Z`) : undefined;

/** Throws a ZodError when the payload lacks what its topic needs: the caller answers 400. */
export function mapWooCommerceWebhook(delivery: WooCommerceDelivery, payload: unknown): ConnectorOutcome {
  const source: SourceContext = compact({
    name: 'woocommerce' as const,
    topic: delivery.topic,
    deliveryId: delivery.deliveryId,
    shop: delivery.source,
  }) as SourceContext;
  const shop = shopHost(delivery.source);

  switch (delivery.topic) {
    case 'order.created':
    case 'order.updated': {
      const o = order.parse(payload);
      const event = COMPLETED_STATUSES.has(o.status)
        ? SHOP_EVENTS.orderCompleted
        : o.status === 'refunded'
          ? SHOP_EVENTS.orderRefunded
          : undefined;
      if (!event) return { ignored: `order status ${o.status}` };
      const email = o.billing?.email;
      const userId = shopContactId(o.customer_id > 0 ? String(o.customer_id) : undefined, email);
      if (!userId) return { ignored: 'order without customer or billing email' };
      const slug = event === SHOP_EVENTS.orderCompleted ? 'order-completed' : 'order-refunded';
      const timestampField =
        event === SHOP_EVENTS.orderCompleted && o.date_paid_gmt ? 'date_paid_gmt' : 'date_modified_gmt';
      const timestamp = gmt(timestampField, o[timestampField]);
      return {
        calls: [
          {
            type: 'track',
            userId,
            event,
            messageId: `woocommerce:${shop}:order:${o.id}:${slug}`,
            ...(timestamp ? { timestamp } : {}),
            properties: event === SHOP_EVENTS.orderCompleted ? orderProperties(o) : refundProperties(o),
            context: {
              traits: compact({
                email,
                phone: o.billing?.phone || undefined,
                firstName: o.billing?.first_name || undefined,
                lastName: o.billing?.last_name || undefined,
              }),
              source,
            },
          },
        ],
      };
    }
    case 'customer.created':
    case 'customer.updated': {
      const c = customer.parse(payload);
      const b = c.billing;
      const traits = compact({
        email: c.email,
        firstName: c.first_name || undefined,
        lastName: c.last_name || undefined,
        phone: b?.phone || undefined,
        username: c.username,
        createdAt: gmt('date_created_gmt', c.date_created_gmt),
        woocommerce_customer_id: c.id,
        woocommerce_role: c.role,
        is_paying_customer: c.is_paying_customer,
        address:
          b && (b.city || b.country)
            ? compact({
                street: b.address_1 || undefined,
                city: b.city || undefined,
                state: b.state || undefined,
                postalCode: b.postcode || undefined,
                country: b.country || undefined,
              })
            : undefined,
      });
      const messageId = (suffix: string) => `woocommerce:${delivery.deliveryId}:${suffix}`;
      const calls: SegmentCall[] = [
        { type: 'identify', userId: c.id, messageId: messageId('identify'), traits, context: { source } },
      ];
      if (delivery.topic === 'customer.created') {
        calls.push({
          type: 'track',
          userId: c.id,
          event: SHOP_EVENTS.signedUp,
          messageId: messageId('signed-up'),
          properties: { method: 'woocommerce' },
          context: { traits, source },
        });
      }
      return { calls };
    }
  }
}

function orderProperties(o: WooOrder): Record<string, unknown> {
  const total = amount(o.total);
  const tax = amount(o.total_tax) ?? 0;
  const shipping = amount(o.shipping_total) ?? 0;
  return compact({
    order_id: o.id,
    order_number: o.number,
    total,
    // Segment's revenue excludes shipping and tax.
    revenue: total === undefined ? undefined : Math.round((total - tax - shipping) * 100) / 100,
    shipping,
    tax,
    discount: amount(o.discount_total),
    coupon: o.coupon_lines?.[0]?.code ?? undefined,
    currency: o.currency,
    status: o.status,
    products: o.line_items.map(
      (item): SegmentProduct =>
        compact({
          product_id: item.product_id ?? undefined,
          // WooCommerce sends 0 for a simple product's variation.
          variant_id: item.variation_id && item.variation_id !== '0' ? item.variation_id : undefined,
          sku: item.sku || undefined,
          name: item.name ?? undefined,
          price: amount(item.price),
          quantity: item.quantity ?? undefined,
        }),
    ),
  });
}

function refundProperties(o: WooOrder): Record<string, unknown> {
  // Refund totals are negative in WooCommerce ("-10.00"); a refunded order without refund lines was refunded in full.
  const refunded = o.refunds.reduce((sum, r) => sum + Math.abs(amount(r.total) ?? 0), 0);
  return compact({
    order_id: o.id,
    order_number: o.number,
    total: o.refunds.length ? Math.round(refunded * 100) / 100 : amount(o.total),
    currency: o.currency,
    reason: o.refunds[0]?.reason || undefined,
  });
}
