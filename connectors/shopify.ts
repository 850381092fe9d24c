/**
 * Shopify webhooks onto the Segment e-commerce spec. Pure: a topic, a payload (parsed with
 * exact ids) and the delivery's headers in, Segment calls out.
 *
 * | topic | calls |
 * | --- | --- |
 * | checkouts/create, checkouts/update | track Checkout Started (`cart_id` = the checkout's `token`); none once
 * `completed_at` is set |
 * | orders/create | track Order Completed (`cart_id` = the order's `checkout_token`) |
 * | orders/paid | track Order Paid |
 * | refunds/create | track Order Refunded, for the contact of the order (looked up by the caller) |
 * | customers/create | identify, then track Signed Up |
 * | customers/update | identify |
 *
 * Contact: the Shopify customer id, else the email (see shopContactId). Message ids are built
 * so that the same fact delivered again stores nothing new: orders and refunds from the shop and
 * their own id (one order is one Order Completed, whatever subscription or webhook delivered it),
 * other topics from X-Shopify-Event-Id (the same event under several subscriptions, Shopify's
 * own dedupe key), else from X-Shopify-Webhook-Id (the same on every retry of a delivery).
 */
import { z } from 'zod';
import {
  amount,
  compact,
  shopContactId,
  SHOP_EVENTS,
  type ConnectorOutcome,
  type ProvenConsent,
  type SegmentCall,
  type SegmentProduct,
  type SourceContext,
} from './segment';

export const SHOPIFY_TOPICS = [
  'checkouts/create',
  'checkouts/update',
  'orders/create',
  'orders/paid',
  'refunds/create',
  'customers/create',
  'customers/update',
] as const;
export type ShopifyTopic = (typeof SHOPIFY_TOPICS)[number];
export const isShopifyTopic = (topic: string): topic is ShopifyTopic =>
  (SHOPIFY_TOPICS as readonly string[]).includes(topic);

// Only the fields the mapping reads; everything else Shopify sends is allowed and ignored.
const id = z.union([z.string(), z.number()]).transform(String);
const text = z.string().nullish();
const money = z.union([z.string(), z.number()]).nullish();

const consent = z
  .looseObject({ state: text, opt_in_level: text, consent_updated_at: text, consent_collected_from: text })
  .nullish();
const address = z
  .looseObject({
    address1: text,
    address2: text,
    city: text,
    province: text,
    zip: text,
    country: text,
    country_code: text,
  })
  .nullish();
const customer = z.looseObject({
  id,
  email: text,
  phone: text,
  first_name: text,
  last_name: text,
  state: text,
  verified_email: z.boolean().nullish(),
  created_at: text,
  default_address: address,
  email_marketing_consent: consent,
  sms_marketing_consent: consent,
});
type ShopifyCustomer = z.infer<typeof customer>;

const lineItem = z.looseObject({
  product_id: id.nullish(),
  variant_id: id.nullish(),
  sku: text,
  title: text,
  name: text,
  variant_title: text,
  vendor: text,
  price: money,
  quantity: z.number().nullish(),
});
type ShopifyLineItem = z.infer<typeof lineItem>;

const checkout = z.looseObject({
  token: z.string().min(1),
  email: text,
  phone: text,
  completed_at: text,
  currency: text,
  presentment_currency: text,
  total_price: money,
  subtotal_price: money,
  total_tax: money,
  total_discounts: money,
  abandoned_checkout_url: text,
  discount_codes: z.array(z.looseObject({ code: text })).nullish(),
  line_items: z.array(lineItem).default([]),
  customer: customer.nullish(),
});

const order = z.looseObject({
  id,
  name: text,
  email: text,
  contact_email: text,
  phone: text,
  checkout_token: text,
  currency: text,
  total_price: money,
  subtotal_price: money,
  total_tax: money,
  total_discounts: money,
  financial_status: text,
  total_shipping_price_set: z.looseObject({ shop_money: z.looseObject({ amount: money }) }).nullish(),
  discount_codes: z.array(z.looseObject({ code: text })).nullish(),
  line_items: z.array(lineItem).default([]),
  customer: customer.nullish(),
});

const refund = z.looseObject({
  id,
  order_id: id,
  note: text,
  refund_line_items: z
    .array(
      z.looseObject({
        quantity: z.number().nullish(),
        line_item: lineItem.nullish(),
        subtotal_set: z.looseObject({ shop_money: z.looseObject({ currency_code: text }) }).nullish(),
      }),
    )
    .default([]),
  transactions: z.array(z.looseObject({ kind: text, status: text, amount: money, currency: text })).default([]),
});

export interface ShopifyDelivery {
  topic: ShopifyTopic;
  webhookId: string;
  /** X-Shopify-Event-Id: the event behind the delivery, shared by every subscription it reaches. */
  eventId?: string;
  shop?: string;
  /** X-Shopify-Triggered-At: when the change happened; the same on every retry. */
  triggeredAt?: string;
}

/** The order a refund belongs to, so the caller can find the order's contact (a refund names no customer). */
export function refundOrderId(payload: unknown): string | undefined {
  const parsed = refund.safeParse(payload);
  return parsed.success ? parsed.data.order_id : undefined;
}

/**
 * Maps one delivery. `orderContactId` is the contact of the refunded order (refunds/create only).
 * Throws a ZodError when the payload lacks what its topic needs: the caller answers 400.
 */
export function mapShopifyWebhook(
  delivery: ShopifyDelivery,
  payload: unknown,
  orderContactId?: string,
): ConnectorOutcome {
  const source: SourceContext = compact({
    name: 'shopify' as const,
    topic: delivery.topic,
    deliveryId: delivery.webhookId,
    eventId: delivery.eventId,
    shop: delivery.shop,
  }) as SourceContext;
  const proofOf = { topic: delivery.topic, shop: delivery.shop, triggeredAt: delivery.triggeredAt };
  const delivered = delivery.eventId ? `event:${delivery.eventId}` : delivery.webhookId;
  const timestamp = delivery.triggeredAt ? { timestamp: delivery.triggeredAt } : {};
  const base = (suffix: string) => ({ messageId: `shopify:${delivered}:${suffix}`, ...timestamp });
  // An order or a refund is one fact of the shop, whichever delivery brought it.
  const ofShop = (kind: 'order' | 'refund', id: string, suffix: string) => ({
    messageId: `shopify:${kind}:${delivery.shop ?? '-'}:${id}:${suffix}`,
    ...timestamp,
  });

  switch (delivery.topic) {
    case 'checkouts/create':
    case 'checkouts/update': {
      const c = checkout.parse(payload);
      // Shopify marks the checkout completed when its order is placed: orders/create tells that.
      if (c.completed_at) return { ignored: 'checkout completed: its order is tracked as Order Completed' };
      const userId = shopContactId(c.customer?.id, c.customer?.email ?? c.email);
      if (!userId) return { ignored: 'checkout without customer or email: nobody to write to yet' };
      return {
        calls: [
          {
            type: 'track',
            userId,
            event: SHOP_EVENTS.checkoutStarted,
            ...base('checkout-started'),
            properties: compact({
              cart_id: c.token,
              checkout_id: c.token,
              total: amount(c.total_price),
              subtotal: amount(c.subtotal_price),
              tax: amount(c.total_tax),
              discount: amount(c.total_discounts),
              coupon: c.discount_codes?.[0]?.code ?? undefined,
              currency: c.presentment_currency ?? c.currency,
              products: c.line_items.map(product),
              abandoned_checkout_url: c.abandoned_checkout_url,
              // The ready-made abandoned-cart flow links to `cart_url`.
              cart_url: c.abandoned_checkout_url,
            }),
            context: { traits: contactTraits(c.customer, c.email, c.phone), source },
            ...provenConsent(c.customer, proofOf),
          },
        ],
      };
    }
    case 'orders/create':
    case 'orders/paid': {
      const o = order.parse(payload);
      const email = o.customer?.email ?? o.email ?? o.contact_email;
      const userId = shopContactId(o.customer?.id, email);
      if (!userId) return { ignored: 'order without customer or email' };
      const paid = delivery.topic === 'orders/paid';
      return {
        calls: [
          {
            type: 'track',
            userId,
            event: paid ? SHOP_EVENTS.orderPaid : SHOP_EVENTS.orderCompleted,
            ...ofShop('order', o.id, paid ? 'order-paid' : 'order-completed'),
            properties: compact({
              order_id: o.id,
              order_number: o.name,
              // The checkout this order completes: a flow keyed on cart_id exits on its own order.
              cart_id: o.checkout_token,
              checkout_id: o.checkout_token,
              total: amount(o.total_price),
              // Segment's revenue excludes shipping and tax: Shopify's subtotal is after discounts, before both.
              revenue: amount(o.subtotal_price),
              shipping: amount(o.total_shipping_price_set?.shop_money.amount),
              tax: amount(o.total_tax),
              discount: amount(o.total_discounts),
              coupon: o.discount_codes?.[0]?.code ?? undefined,
              currency: o.currency,
              financial_status: o.financial_status,
              products: o.line_items.map(product),
            }),
            context: { traits: contactTraits(o.customer, email, o.phone), source },
            ...provenConsent(o.customer, proofOf),
          },
        ],
      };
    }
    case 'refunds/create': {
      const r = refund.parse(payload);
      if (!orderContactId)
        return { ignored: `refund of order ${r.order_id}, which never reached us as Order Completed` };
      const refunds = r.transactions.filter((t) => t.kind === 'refund' && t.status === 'success');
      const total = refunds.reduce((sum, t) => sum + (amount(t.amount) ?? 0), 0);
      return {
        calls: [
          {
            type: 'track',
            userId: orderContactId,
            event: SHOP_EVENTS.orderRefunded,
            ...ofShop('refund', r.id, 'order-refunded'),
            properties: compact({
              order_id: r.order_id,
              refund_id: r.id,
              total: Math.round(total * 100) / 100,
              // Shopify's documented refund transactions carry no currency; the refunded lines do.
              currency:
                refunds.find((t) => t.currency)?.currency ??
                r.refund_line_items.find((i) => i.subtotal_set)?.subtotal_set?.shop_money.currency_code,
              reason: r.note,
              products: r.refund_line_items.flatMap((item) =>
                item.line_item ? [{ ...product(item.line_item), quantity: item.quantity ?? undefined }] : [],
              ),
            }),
            context: { traits: {}, source },
          },
        ],
      };
    }
    case 'customers/create':
    case 'customers/update': {
      const c = customer.parse(payload);
      const traits = customerTraits(c);
      const calls: SegmentCall[] = [
        {
          type: 'identify',
          userId: c.id,
          ...base('identify'),
          traits,
          context: { source },
          ...provenConsent(c, proofOf),
        },
      ];
      if (delivery.topic === 'customers/create') {
        calls.push({
          type: 'track',
          userId: c.id,
          event: SHOP_EVENTS.signedUp,
          ...base('signed-up'),
          properties: { method: 'shopify' },
          context: { traits, source },
        });
      }
      return { calls };
    }
  }
}

function product(item: ShopifyLineItem): SegmentProduct {
  return compact({
    product_id: item.product_id ?? undefined,
    variant_id: item.variant_id ?? undefined,
    sku: item.sku ?? undefined,
    name: item.title ?? item.name ?? undefined,
    brand: item.vendor ?? undefined,
    variant: item.variant_title ?? undefined,
    price: amount(item.price),
    quantity: item.quantity ?? undefined,
  });
}

/** Traits a checkout or an order tells about its buyer: enough to write to them. */
function contactTraits(
  c: ShopifyCustomer | null | undefined,
  email: string | null | undefined,
  phone: string | null | undefined,
): Record<string, unknown> {
  return compact({
    email: c?.email ?? email,
    phone: c?.phone ?? phone,
    firstName: c?.first_name,
    lastName: c?.last_name,
  });
}

/** The list Shopify's email marketing consent keeps in step, when it exists in Parcours. */
export const SHOPIFY_NEWSLETTER_LIST = 'newsletter';

/**
 * Email marketing consent as membership of the newsletter list (identify traits `lists`):
 * subscribed joins, unsubscribed leaves; other states (not_subscribed, pending…) change nothing,
 * so a signup through another form is not undone by a customer who never answered in Shopify.
 */
function newsletterOf(state: string | null | undefined): Record<string, boolean> | undefined {
  if (state === 'subscribed') return { [SHOPIFY_NEWSLETTER_LIST]: true };
  if (state === 'unsubscribed') return { [SHOPIFY_NEWSLETTER_LIST]: false };
  return undefined;
}

type ShopifyConsent = NonNullable<ShopifyCustomer['email_marketing_consent']>;

/**
 * The buyer's marketing consent on each channel, where it is a decision (subscribed, unsubscribed), with Shopify's
 * proof: recorded through the one consent write with the source `shopify` and the time the customer decided
 * (`consent_updated_at`; else when the webhook was triggered), only when newer than what is recorded, so a Shopify
 * unsubscribe suppresses the address like any other and an order carrying the consent of before a later unsubscribe
 * changes nothing. not_subscribed, pending, redacted and invalid record nothing.
 */
function provenConsent(
  c: ShopifyCustomer | null | undefined,
  delivery: { topic: string; shop?: string; triggeredAt?: string },
): { consent?: ProvenConsent[] } {
  const decisions = (['email', 'sms'] as const).flatMap((channel): ProvenConsent[] => {
    const given: ShopifyConsent | null | undefined =
      channel === 'email' ? c?.email_marketing_consent : c?.sms_marketing_consent;
    const status = given?.state === 'subscribed' || given?.state === 'unsubscribed' ? given.state : undefined;
    const decidedAt = instant(given?.consent_updated_at) ?? delivery.triggeredAt;
    if (!given || !status || !decidedAt) return [];
    const proof = compact({
      state: given.state,
      opt_in_level: given.opt_in_level,
      consent_updated_at: given.consent_updated_at,
      consent_collected_from: given.consent_collected_from,
      topic: delivery.topic,
      shop: delivery.shop,
    });
    return [{ channel, status, source: 'shopify', decidedAt, proof }];
  });
  return decisions.length > 0 ? { consent: decisions } : {};
}

/** A Shopify time as ISO, if it is one a database can hold (years 1-9999). */
function instant(value: string | null | undefined): string | undefined {
  const ms = value ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) return undefined;
  const year = new Date(ms).getUTCFullYear();
  return year >= 1 && year <= 9999 ? new Date(ms).toISOString() : undefined;
}

function customerTraits(c: ShopifyCustomer): Record<string, unknown> {
  const a = c.default_address;
  return compact({
    email: c.email,
    phone: c.phone,
    firstName: c.first_name,
    lastName: c.last_name,
    createdAt: c.created_at,
    shopify_customer_id: c.id,
    shopify_state: c.state,
    verified_email: c.verified_email,
    // Shopify's consent states: subscribed, not_subscribed, unsubscribed, pending, redacted, invalid.
    email_marketing_consent: c.email_marketing_consent?.state,
    email_marketing_opt_in_level: c.email_marketing_consent?.opt_in_level,
    sms_marketing_consent: c.sms_marketing_consent?.state,
    lists: newsletterOf(c.email_marketing_consent?.state),
    address: a
      ? compact({
          street: a.address1,
          city: a.city,
          state: a.province,
          postalCode: a.zip,
          country: a.country_code ?? a.country,
        })
      : undefined,
  });
}
