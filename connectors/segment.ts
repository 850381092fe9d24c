/**
 * What a shop connector produces: Segment-spec calls (the e-commerce spec's event names and
 * properties), plain data with no I/O, so the mapping of every platform can be read and
 * tested on its own. The API validates them with its own track/identify schemas before
 * storing, exactly like calls that arrive at /v1/track and /v1/identify.
 */
import { storableInstant } from './storable-json';

/** Segment's call types: each is served at `/v1/<type>` (api/events/paths.ts) and stored by services/event-store.ts. */
export const CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof CALL_TYPES)[number];

/** Segment e-commerce spec event names, named once for every connector. */
export const SHOP_EVENTS = {
  checkoutStarted: EVENTS.checkoutStarted,
  orderCompleted: EVENTS.orderCompleted,
  orderPaid: EVENTS.orderPaid,
  orderRefunded: EVENTS.orderRefunded,
  signedUp: EVENTS.signedUp,
} as const;
import { EVENTS } from '../flows/event-names';

export interface SegmentTrack {
  type: 'track';
  userId: string;
  event: string;
  messageId: string;
  timestamp?: string;
  properties: Record<string, unknown>;
  context: { traits: Record<string, unknown>; source: SourceContext };
  /** The buyer's marketing consent as the platform recorded it, with its proof: not a trait, not in the event. */
  consent?: ProvenConsent[];
}

export interface SegmentIdentify {
  type: 'identify';
  userId: string;
  messageId: string;
  timestamp?: string;
  traits: Record<string, unknown>;
  context: { source: SourceContext };
  consent?: ProvenConsent[];
}

export type SegmentCall = SegmentTrack | SegmentIdentify;

/**
 * A consent decision a connector read from its platform, with the platform's proof (Shopify's marketing consent):
 * only decisions (subscribed, unsubscribed) on the channels shops collect.
 */
export interface ProvenConsent {
  channel: 'email' | 'sms';
  status: 'subscribed' | 'unsubscribed';
  /** The platform's name: shopify. */
  source: string;
  /** When the person decided, by the platform's clock (`consent_updated_at`). */
  decidedAt: string;
  proof: Record<string, unknown>;
}

/** Where a call came from; kept in the event's context for support and for finding an order's contact. */
export interface SourceContext {
  name: 'shopify' | 'woocommerce';
  topic: string;
  deliveryId: string;
  /** Shopify's X-Shopify-Event-Id, when it came. */
  eventId?: string;
  shop?: string;
}

/** A webhook either becomes calls, or is acknowledged and ignored with a reason the answer states. */
export type ConnectorOutcome = { calls: SegmentCall[] } | { ignored: string };

/** Segment product properties (product_id, sku, name, brand, variant, price, quantity). */
export interface SegmentProduct {
  product_id?: string;
  variant_id?: string;
  sku?: string;
  name?: string;
  brand?: string;
  variant?: string;
  price?: number;
  quantity?: number;
}

/**
 * The contact rule shared by every shop connector: the platform's customer id when the payload
 * has one, else the email address (lower-cased), so a guest's checkout and order meet in one
 * contact. Undefined when the payload names nobody yet (a checkout before the email is typed).
 */
export function shopContactId(customerId: string | undefined, email: string | null | undefined): string | undefined {
  if (customerId) return customerId;
  const normalized = email?.trim().toLowerCase();
  return normalized ? normalized : undefined;
}

/** Shops send money as decimal strings ("421.88"); Segment properties carry numbers. */
export function amount(value: string | number | null | undefined): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Drops undefined and null values, so a stored event shows only what the shop sent. */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** A payload field a connector cannot map (a date past year 9999): the caller answers 400 naming it. */
export class PayloadFieldError extends Error {
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(`${path.join('.')} ${message}`);
  }
}

/** A date-time field of a payload as UTC ISO text (the one rule of storable-json), else a PayloadFieldError. */
export function payloadInstant(path: (string | number)[], text: string): string {
  const instant = storableInstant(text);
  if ('problem' in instant) throw new PayloadFieldError(path, instant.problem);
  return instant.iso;
}
