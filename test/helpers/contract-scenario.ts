/**
 * The contract every real client library is held to: the same visit (anonymous browsing, a
 * sign-in, an order) sent with every Segment call type through the library, then checked the
 * way a shop would notice it: each call stored once on the right contact, the anonymous
 * visitor merged into the known one, and the flows it triggers started and left.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FlowInput } from '../../flows/schema';
import type { journeyWorkflow } from '../../workflows/journey';
import { Harness, WRITE_KEY } from './harness';

/** The libraries are configured with a write key: ingestion only, the kind a web page embeds. */
export const INGESTION_KEY = WRITE_KEY;

/**
 * Parcours listening on 127.0.0.1 (a random port) the way `npm start` serves it; `seen` gets
 * every request's method, path and headers (what the client library really sent).
 */
async function listen(
  h: Harness,
  seen: (req: IncomingMessage) => void = () => undefined,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    seen(req);
    h.app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * For a test file: the harness (real Temporal and Postgres) and Parcours on a port, with the
 * contract's flows, started before its tests and stopped after them. The fields are set once
 * the file's beforeAll has run.
 */
export function parcoursForContracts(seen?: (req: IncomingMessage) => void): { h: Harness; url: string } {
  const running = {} as { h: Harness; url: string; close?: () => Promise<void> };
  beforeAll(async () => {
    running.h = await Harness.start();
    const server = await listen(running.h, seen);
    running.url = server.url;
    running.close = server.close;
    await putContractFlows(running.h);
  });
  afterAll(async () => {
    await running.close?.();
    await running.h?.stop();
  });
  return running;
}

const email = (id: string, subject: string) => ({ id, type: 'email' as const, subject, html: `<p>${subject}</p>` });

/** Flows on the page, screen and track calls; an order ends the browse-abandonment journey. */
export const contractFlows: Record<string, FlowInput> = {
  'pricing-visit': {
    name: 'Visited pricing',
    status: 'live',
    trigger: { event: 'Page Viewed', where: [{ property: 'url', op: 'contains', value: '/pricing' }] },
    smartSending: { enabled: false },
    steps: [{ id: 'wait', type: 'delay', duration: '30 days' }, email('pricing-mail', 'Questions about our plans?')],
  },
  'app-home': {
    name: 'Opened the app',
    status: 'live',
    trigger: { event: 'Screen Viewed', where: [{ property: 'name', op: 'equals', value: 'Home' }] },
    smartSending: { enabled: false },
    steps: [{ id: 'wait', type: 'delay', duration: '30 days' }, email('app-mail', 'Welcome to the app')],
  },
  browse: {
    name: 'Browse abandonment',
    status: 'live',
    trigger: { event: 'Product Viewed' },
    exitWhen: [{ event: 'Order Completed' }],
    smartSending: { enabled: false },
    steps: [{ id: 'wait', type: 'delay', duration: '1 day' }, email('browse-mail', 'Still thinking about it?')],
  },
};

async function putContractFlows(h: Harness): Promise<void> {
  for (const [id, flow] of Object.entries(contractFlows)) await h.putFlow(id, flow);
}

/** Who a call is about: a userId, an anonymousId or both (as the libraries type it). */
type Identity = { userId: string; anonymousId?: string } | { userId?: string; anonymousId: string };
/** Flat properties and traits: what every library's types take. */
type Fields = Record<string, string | number | boolean>;

/** One Segment call as a library's caller writes it (camelCase, as analytics-node takes it). */
export type ContractCall =
  | ({ type: 'page'; messageId: string; name: string; properties: Fields } & Identity)
  | ({ type: 'screen'; messageId: string; name: string; properties: Fields } & Identity)
  | ({ type: 'track'; messageId: string; event: string; properties: Fields } & Identity)
  | ({ type: 'identify'; messageId: string; traits: Fields } & Identity)
  | ({ type: 'group'; messageId: string; groupId: string; traits: Fields } & Identity)
  | { type: 'alias'; messageId: string; userId: string; previousId: string };

export interface Scenario {
  userId: string;
  anonymousId: string;
  /** A second anonymous visitor (another device) tied to the user by `alias`. */
  otherAnonymousId: string;
  email: string;
  groupId: string;
  calls: ContractCall[];
}

/** The visit, with ids unique to one library so the files never see each other's data. */
export function scenario(library: string): Scenario {
  const userId = `${library}-user`;
  const anonymousId = `${library}-anon-1`;
  const otherAnonymousId = `${library}-anon-2`;
  const email = `${library}-user@example.com`;
  const groupId = `${library}-acme`;
  const m = (name: string) => `${library}-${name}`;
  return {
    userId,
    anonymousId,
    otherAnonymousId,
    email,
    groupId,
    calls: [
      {
        type: 'page',
        messageId: m('page'),
        anonymousId,
        name: 'Pricing',
        properties: { url: 'https://shop.example/pricing?plan=pro', path: '/pricing', title: 'Pricing' },
      },
      {
        type: 'track',
        messageId: m('track'),
        anonymousId,
        event: 'Product Viewed',
        properties: { product_id: 'p1', name: 'Linen shirt', price: 59.5 },
      },
      { type: 'identify', messageId: m('identify'), userId, anonymousId, traits: { email, firstName: 'Ada' } },
      { type: 'screen', messageId: m('screen'), userId, name: 'Home', properties: { build: '4.2' } },
      { type: 'group', messageId: m('group'), userId, groupId, traits: { name: 'Acme Inc', plan: 'enterprise' } },
      {
        type: 'track',
        messageId: m('other-device'),
        anonymousId: otherAnonymousId,
        event: 'Article Read',
        properties: { slug: 'linen-care' },
      },
      { type: 'alias', messageId: m('alias'), userId, previousId: otherAnonymousId },
      {
        type: 'track',
        messageId: m('order'),
        userId,
        event: 'Order Completed',
        properties: { order_id: `${library}-o1`, total: 59.5, currency: 'EUR' },
      },
    ],
  };
}

interface StoredEvent {
  id: number;
  message_id: string;
  type: string;
  contact_id: string;
  name: string | null;
  properties: Record<string, unknown>;
  routed_at: Date | null;
}

export async function storedEvents(h: Harness, messageIds: string[]): Promise<Map<string, StoredEvent>> {
  const rows = await h.db.query<StoredEvent>(
    'SELECT id, message_id, type, contact_id, name, properties, routed_at FROM events WHERE message_id = ANY($1)',
    [messageIds],
  );
  return new Map(rows.rows.map((r) => [r.message_id, r]));
}

/**
 * Waits until every event call is stored and the router has routed it (batches route in the
 * background); past the deadline, fails naming the calls missing and those not routed.
 */
export async function waitUntilRouted(
  h: Harness,
  ids: string[],
  timeoutMs = 20_000,
): Promise<Map<string, StoredEvent>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await storedEvents(h, ids);
    const missing = ids.filter((id) => !events.has(id));
    const unrouted = [...events.values()].filter((e) => e.routed_at === null).map((e) => e.message_id);
    if (missing.length === 0 && unrouted.length === 0) return events;
    if (Date.now() > deadline)
      throw new Error(
        `after ${timeoutMs} ms: not stored ${JSON.stringify(missing)}, stored but not routed ${JSON.stringify(unrouted)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The journey a stored event started in a flow (whatever contact id it was started for). */
export async function journeyStartedBy(
  h: Harness,
  flowId: string,
  eventId: number,
): Promise<{ workflow_id: string; status: string } | undefined> {
  const rows = await h.db.query<{ workflow_id: string; status: string }>(
    'SELECT workflow_id, status FROM journeys WHERE flow_id = $1 AND trigger_event_id = $2',
    [flowId, eventId],
  );
  return rows.rows[0];
}

/**
 * Everything a shop would notice after the library sent the scenario. Fails with what is
 * missing, call by call.
 */
export async function expectStoredAndRouted(h: Harness, s: Scenario): Promise<void> {
  const events = await waitUntilRouted(
    h,
    s.calls.map((c) => c.messageId),
  );
  const byId = (id: string) => {
    const event = events.get(id);
    if (!event) throw new Error(`call ${id} was not stored`);
    return event;
  };
  const [page, track, identify, screen, , otherDevice, alias, order] = s.calls;

  // Stored once each, every one now on the known contact's timeline: the browsing before
  // sign-in (identify with both ids) and on the other device (alias) was merged into it.
  const timeline = await h.http('get', `/v1/contacts/${encodeURIComponent(s.userId)}/events?limit=100`);
  expect(timeline.status).toBe(200);
  const listed = (
    timeline.body.events as {
      messageId: string;
      type: string;
      name: string | null;
      properties: Record<string, unknown>;
    }[]
  ).filter((e) => events.has(e.messageId));
  expect(listed.map((e) => e.messageId).sort()).toEqual(s.calls.map((c) => c.messageId).sort());
  const onTimeline = new Map(listed.map((e) => [e.messageId, e]));

  // Page and screen calls are events flows can trigger on and filter by.
  expect(onTimeline.get(page.messageId)).toMatchObject({
    name: 'Page Viewed',
    properties: expect.objectContaining({ url: 'https://shop.example/pricing?plan=pro', name: 'Pricing' }),
  });
  expect(onTimeline.get(screen.messageId)).toMatchObject({
    name: 'Screen Viewed',
    properties: expect.objectContaining({ name: 'Home', build: '4.2' }),
  });
  expect(onTimeline.get(track.messageId)).toMatchObject({
    name: 'Product Viewed',
    properties: expect.objectContaining({ product_id: 'p1', price: 59.5 }),
  });
  expect(onTimeline.get(order.messageId)).toMatchObject({ name: 'Order Completed' });
  expect(onTimeline.get(otherDevice.messageId)).toMatchObject({ name: 'Article Read' });
  expect(onTimeline.get(identify.messageId)).toMatchObject({ type: 'identify' });
  expect(onTimeline.get(alias.messageId)).toMatchObject({ type: 'alias' });
  // The group call keeps the contact's group with its traits.
  const groups = await h.http('get', `/v1/contacts/${encodeURIComponent(s.userId)}/groups`);
  expect(groups.body.groups).toEqual([
    expect.objectContaining({ groupId: s.groupId, traits: { name: 'Acme Inc', plan: 'enterprise' } }),
  ]);

  // The known contact carries the identify's traits.
  const contact = await h.http('get', `/v1/contacts/${encodeURIComponent(s.userId)}`);
  expect(contact.status).toBe(200);
  expect(contact.body).toMatchObject({
    id: s.userId,
    email: s.email,
    traits: expect.objectContaining({ firstName: 'Ada' }),
  });

  // Routed: the page and screen calls started their flows, the anonymous product view started
  // browse abandonment, and the order (sent with the userId alone) made that journey exit.
  for (const [flowId, call] of [
    ['pricing-visit', page],
    ['app-home', screen],
    ['browse', track],
  ] as const) {
    expect({ flowId, journey: await journeyStartedBy(h, flowId, byId(call.messageId).id) }).toEqual({
      flowId,
      journey: expect.objectContaining({ workflow_id: expect.any(String) }),
    });
  }
  const browse = (await journeyStartedBy(h, 'browse', byId(track.messageId).id))!;
  const result = await h.env.client.workflow.getHandle<typeof journeyWorkflow>(browse.workflow_id).result();
  expect(result.exit).toMatchObject({ reason: 'flow_filter' });
  expect(h.sendgrid.emails.filter((e) => e.to === s.email).map((e) => e.subject)).not.toContain(
    'Still thinking about it?',
  );
}
