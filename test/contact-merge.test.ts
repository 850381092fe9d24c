/**
 * Anonymous → known: a visitor browses anonymously, then identifies. Everything of the
 * anonymous contact becomes the known contact's, and journeys started while anonymous act
 * on the known contact: they email its address and exit on its orders.
 */
import type { PoolClient } from 'pg';
import { lockContact, mergeContacts, resolveContactIds } from '../db/contact-merge';
import { getContact, upsertContact } from '../db/contacts';
import { insertEvent } from '../db/events';
import { savePushSubscription } from '../db/push-subscriptions';
import { inTransaction } from '../db/pool';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('browse-abandonment', {
    name: 'Browse abandonment',
    status: 'live',
    trigger: { event: 'Product Viewed' },
    exitWhen: [{ event: 'Order Completed' }],
    steps: [
      { id: 'wait-1h', type: 'delay', duration: '1 hour' },
      {
        id: 'nudge-1',
        type: 'email',
        subject: '{{ contact.firstName | default: "Hi" }}, still thinking about the {{ event.properties.name }}?',
        html: '<p>{{ event.properties.name }}</p>',
      },
      { id: 'wait-1d', type: 'delay', duration: '1 day' },
      {
        id: 'nudge-2',
        type: 'email',
        subject: 'The {{ event.properties.name }} is almost gone',
        html: '<p>Last one</p>',
      },
    ],
  });
});
afterAll(() => h?.stop());
beforeEach(() => h.sendgrid.reset());

const merge = (from: string, into: string) => inTransaction(h.db, (tx) => mergeContacts(tx, from, into));
const count = async (sql: string, params: unknown[]) => (await h.db.query<{ n: number }>(sql, params)).rows[0].n;
const eventsOf = (contactId: string) =>
  count('SELECT count(*)::int AS n FROM events WHERE contact_id = $1', [contactId]);
const storeEvent = (contactId: string, messageId: string, name = 'Product Viewed') =>
  insertEvent(h.db, {
    messageId,
    type: 'track',
    contactId,
    name,
    properties: {},
    occurredAt: new Date().toISOString(),
  });

/** An identify carrying both ids, as analytics.js sends it at login: the ingestion merges them. */
async function login(anonymousId: string, userId: string, traits: Record<string, unknown>): Promise<void> {
  const res = await h.http('post', '/v1/identify').send({ userId, anonymousId, traits });
  expect(res.status).toBe(200);
}

test('browse abandonment started anonymously emails the address given at login, and an order by userId exits it', async () => {
  const viewed = await h.track({
    anonymousId: 'visitor-1',
    event: 'Product Viewed',
    properties: { name: 'Linen shirt' },
    messageId: 'view-1',
  });
  expect(viewed.journeys.started).toMatchObject([{ workflowId: 'journey:browse-abandonment:anonymous:visitor-1' }]);

  await login('visitor-1', 'ann', { email: 'ann@example.com', firstName: 'Ann' });
  expect(await resolveContactIds(h.db, ['anonymous:visitor-1'])).toEqual(new Map([['anonymous:visitor-1', 'ann']]));
  // Ann is in the flow already, through the journey she started anonymously: no second one.
  const again = await h.track({ userId: 'ann', event: 'Product Viewed', properties: { name: 'Canvas tote' } });
  expect(again.journeys).toMatchObject({
    started: [],
    alreadyInFlow: [{ flowId: 'browse-abandonment', workflowId: 'journey:browse-abandonment:anonymous:visitor-1' }],
  });
  await h.env.sleep('2 hours');
  await waitFor(() => h.sendgrid.emails.length === 1, 'the first nudge');
  expect(h.sendgrid.emails.map((e) => [e.to, e.subject])).toEqual([
    ['ann@example.com', 'Ann, still thinking about the Linen shirt?'],
  ]);

  // The order carries the userId only: it reaches the journey the anonymous visitor started.
  const ordered = await h.track({ userId: 'ann', event: 'Order Completed', properties: { total: 59.5 } });
  expect(ordered.journeys.signalled).toEqual([
    { flowId: 'browse-abandonment', workflowId: 'journey:browse-abandonment:anonymous:visitor-1' },
  ]);
  const result = await h.result('browse-abandonment', 'anonymous:visitor-1');
  expect(result).toMatchObject({
    status: 'exited',
    exit: { reason: 'flow_filter', filter: { event: 'Order Completed' } },
  });
  expect(h.sendgrid.emails).toHaveLength(1);

  // The known contact's history shows the journey and its message.
  const journeys = await h.http('get', '/v1/contacts/ann/journeys');
  expect(journeys.body.journeys).toMatchObject([
    { flowId: 'browse-abandonment', status: 'exited', workflowId: 'journey:browse-abandonment:anonymous:visitor-1' },
  ]);
  const messages = await h.http('get', '/v1/contacts/ann/messages');
  expect(messages.body.messages).toMatchObject([{ stepId: 'nudge-1', status: 'sent', recipient: 'ann@example.com' }]);
});

test('an order stored for the known contact but never signalled still stops the anonymous journey’s email (send guard)', async () => {
  await h.track({ anonymousId: 'visitor-2', event: 'Product Viewed', properties: { name: 'Canvas tote' } });
  await login('visitor-2', 'ben', { email: 'ben@example.com' });
  // As if the API died right after storing the order: no signal, only the stored event.
  const occurredAt = new Date(await h.env.currentTimeMs()).toISOString();
  await insertEvent(
    h.db,
    { messageId: 'ben-order', type: 'track', contactId: 'ben', name: 'Order Completed', properties: {}, occurredAt },
    { routeWithinMs: 3_600_000 },
  );

  const result = await h.result('browse-abandonment', 'anonymous:visitor-2');

  expect(result.exit).toMatchObject({ reason: 'flow_filter', detectedBy: 'send_guard' });
  expect(h.sendgrid.emails).toEqual([]);
});

test('a profile step of a journey started anonymously updates the known contact', async () => {
  await h.putFlow('trial-tagging', {
    name: 'Trial tagging',
    status: 'live',
    trigger: { event: 'Trial Started' },
    steps: [
      { id: 'wait', type: 'delay', duration: '1 hour' },
      { id: 'tag', type: 'update_profile', addTags: ['trial'], score: 5 },
    ],
  });
  await h.track({ anonymousId: 'visitor-8', event: 'Trial Started' });
  await login('visitor-8', 'hal', { email: 'hal@example.com' });

  expect(await h.result('trial-tagging', 'anonymous:visitor-8')).toMatchObject({ status: 'completed' });

  expect((await getContact(h.db, 'hal'))?.traits).toMatchObject({ tags: ['trial'], lead_score: 5 });
  const change = await h.db.query(
    "SELECT contact_id FROM events WHERE name = 'Profile Updated' AND context->>'flowId' = 'trial-tagging'",
  );
  expect(change.rows).toEqual([{ contact_id: 'hal' }]);
  const anonymous = await h.db.query("SELECT traits FROM contacts WHERE id = 'anonymous:visitor-8'");
  expect(anonymous.rows).toEqual([{ traits: {} }]);
});

test('alias: the visitor’s events and groups become the known contact’s, and later anonymous calls land on it', async () => {
  await h.track({
    anonymousId: 'visitor-7',
    event: 'Page Viewed',
    properties: { url: 'https://shop.example/pricing' },
  });
  expect(
    (
      await h
        .http('post', '/v1/group')
        .send({ anonymousId: 'visitor-7', groupId: 'acme', traits: { plan: 'free', size: 10 } })
    ).status,
  ).toBe(200);
  expect(
    (await h.http('post', '/v1/group').send({ userId: 'gus', groupId: 'acme', traits: { plan: 'pro' } })).status,
  ).toBe(200);

  expect((await h.http('post', '/v1/alias').send({ previousId: 'visitor-7', userId: 'gus' })).status).toBe(200);

  expect(await eventsOf('anonymous:visitor-7')).toBe(0);
  const groups = await h.db.query('SELECT contact_id, traits FROM contact_groups WHERE group_id = $1', ['acme']);
  expect(groups.rows).toEqual([{ contact_id: 'gus', traits: { plan: 'pro', size: 10 } }]);
  // A call still carrying only the anonymous id (another tab) is the known contact's.
  const later = await h.track({
    anonymousId: 'visitor-7',
    event: 'Product Viewed',
    properties: { name: 'Wool scarf' },
  });
  expect(later.journeys.started).toMatchObject([{ workflowId: 'journey:browse-abandonment:gus' }]);
  expect(await eventsOf('anonymous:visitor-7')).toBe(0);
  const stored = await h.db.query<{ name: string }>(
    "SELECT COALESCE(name, type) AS name FROM events WHERE contact_id = 'gus' ORDER BY id",
  );
  expect(stored.rows.map((r) => r.name)).toEqual(['Page Viewed', 'group', 'group', 'alias', 'Product Viewed']);
});

test('a merge moves events, traits (the known contact’s win; missing addresses filled) and push subscriptions', async () => {
  await upsertContact(h.db, 'anonymous:v3', {
    firstName: 'Visitor',
    city: 'Lyon',
    email: 'old@example.com',
    phone: '+33600000000',
    email_marketing_consent: 'unsubscribed',
  });
  await upsertContact(h.db, 'cleo', {
    firstName: 'Cleo',
    email: 'cleo@example.com',
    email_marketing_consent: 'subscribed',
    sms_marketing_consent: 'subscribed',
  });
  await storeEvent('anonymous:v3', 'v3-a');
  await storeEvent('anonymous:v3', 'v3-b');
  await storeEvent('cleo', 'cleo-a');
  await savePushSubscription(h.db, 'anonymous:v3', {
    endpoint: 'https://push.example/v3',
    keys: { p256dh: 'k', auth: 'a' },
  });

  expect(await merge('anonymous:v3', 'cleo')).toEqual({ merged: true });

  const cleo = await getContact(h.db, 'cleo');
  expect(cleo).toMatchObject({
    email: 'cleo@example.com',
    phone: '+33600000000',
    traits: { firstName: 'Cleo', city: 'Lyon', email: 'cleo@example.com', sms_marketing_consent: 'subscribed' },
  });
  // A withdrawn consent is never overwritten by a merge.
  expect(cleo?.traits.email_marketing_consent).toBe('unsubscribed');
  expect(await eventsOf('cleo')).toBe(3);
  expect(await eventsOf('anonymous:v3')).toBe(0);
  expect(await count('SELECT count(*)::int AS n FROM push_subscriptions WHERE contact_id = $1', ['cleo'])).toBe(1);
  // The merged-away row stays, empty and marked, so nothing is ever sent to it.
  const gone = await h.db.query('SELECT email, phone, traits, merged_into FROM contacts WHERE id = $1', [
    'anonymous:v3',
  ]);
  expect(gone.rows).toEqual([{ email: null, phone: null, traits: {}, merged_into: 'cleo' }]);
  expect(await resolveContactIds(h.db, ['anonymous:v3', 'cleo', 'nobody'])).toEqual(
    new Map([
      ['anonymous:v3', 'cleo'],
      ['cleo', 'cleo'],
      ['nobody', 'nobody'],
    ]),
  );

  // A repeat (the next identify with both ids) changes nothing.
  expect(await merge('anonymous:v3', 'cleo')).toEqual({ merged: false, reason: 'same' });
  expect(await eventsOf('cleo')).toBe(3);
  expect((await getContact(h.db, 'cleo'))?.traits).toEqual(cleo?.traits);
});

test('an alias recorded before the anonymous id has a row: later lookups resolve to the known contact', async () => {
  expect(await merge('anonymous:v4', 'dan')).toEqual({ merged: true });
  expect(await resolveContactIds(h.db, ['anonymous:v4'])).toEqual(new Map([['anonymous:v4', 'dan']]));
  expect(await getContact(h.db, 'dan')).toBeDefined();
});

test('chains resolve to the final contact, a merge into a merged contact goes to where it went, a cycle is refused', async () => {
  await upsertContact(h.db, 'chain-a', { a: 1 });
  await storeEvent('chain-a', 'chain-a-1');
  await upsertContact(h.db, 'chain-b', { b: 1 });
  await upsertContact(h.db, 'chain-c', { c: 1 });
  await upsertContact(h.db, 'chain-x', { x: 1 });

  expect(await merge('chain-a', 'chain-b')).toEqual({ merged: true });
  expect(await merge('chain-b', 'chain-c')).toEqual({ merged: true });
  expect(await resolveContactIds(h.db, ['chain-a', 'chain-b'])).toEqual(
    new Map([
      ['chain-a', 'chain-c'],
      ['chain-b', 'chain-c'],
    ]),
  );
  expect(await eventsOf('chain-c')).toBe(1);

  // Into chain-a, which is chain-c now.
  expect(await merge('chain-x', 'chain-a')).toEqual({ merged: true });
  expect(await resolveContactIds(h.db, ['chain-x'])).toEqual(new Map([['chain-x', 'chain-c']]));
  expect((await getContact(h.db, 'chain-c'))?.traits).toEqual({ a: 1, b: 1, c: 1, x: 1 });

  // chain-c into chain-a (which is chain-c): a cycle, refused.
  expect(await merge('chain-c', 'chain-a')).toEqual({ merged: false, reason: 'same' });
  expect(await resolveContactIds(h.db, ['chain-c'])).toEqual(new Map([['chain-c', 'chain-c']]));
  // An id already merged into one known contact is not taken by another.
  expect(await merge('chain-a', 'chain-z')).toEqual({ merged: false, reason: 'conflict', contactId: 'chain-c' });
});

test('resolveContactIds follows chains stored hop by hop', async () => {
  await h.db.query(
    "INSERT INTO contact_aliases (alias_id, contact_id) VALUES ('hop-1', 'hop-2'), ('hop-2', 'hop-3'), ('hop-3', 'hop-4')",
  );
  expect(await resolveContactIds(h.db, ['hop-1', 'hop-2', 'hop-4'])).toEqual(
    new Map([
      ['hop-1', 'hop-4'],
      ['hop-2', 'hop-4'],
      ['hop-4', 'hop-4'],
    ]),
  );
});

test('concurrent merges of the same pair (and the reverse pair) neither deadlock nor move anything twice', async () => {
  for (let i = 0; i < 5; i++) {
    const anon = `anonymous:race-${i}`;
    const known = `racer-${i}`;
    await upsertContact(h.db, anon, { seen: i });
    await upsertContact(h.db, known, { email: `${known}@example.com` });
    await storeEvent(anon, `race-${i}-view`);
    await storeEvent(known, `race-${i}-order`, 'Order Completed');

    const outcomes = await Promise.all([merge(anon, known), merge(anon, known), merge(known, anon)]);

    expect(outcomes.filter((o) => o.merged)).toHaveLength(1);
    const ids = await resolveContactIds(h.db, [anon, known]);
    const survivor = ids.get(anon);
    expect(ids.get(known)).toBe(survivor);
    expect(await eventsOf(survivor!)).toBe(2);
    expect(await count('SELECT count(*)::int AS n FROM contact_aliases WHERE contact_id = $1', [survivor])).toBe(1);
  }
});

test('ingestion locking the contact orders itself with a concurrent merge: its event ends up on the known contact either way', async () => {
  // Ingestion first: the merge waits for it, then moves its event.
  await upsertContact(h.db, 'anonymous:v5', {});
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const ingestion = inTransaction(h.db, async (tx: PoolClient) => {
    const { contactId } = await lockContact(tx, 'anonymous:v5');
    locked();
    await held;
    await insertEvent(tx, {
      messageId: 'v5-view',
      type: 'track',
      contactId,
      name: 'Product Viewed',
      occurredAt: new Date().toISOString(),
    });
    return contactId;
  });
  await isLocked;
  const merging = merge('anonymous:v5', 'eve');
  await new Promise((r) => setTimeout(r, 200));
  release();
  expect(await ingestion).toBe('anonymous:v5');
  expect(await merging).toEqual({ merged: true });
  expect(await eventsOf('eve')).toBe(1);

  // Merge first: the ingestion waits for it, then follows the alias.
  await upsertContact(h.db, 'anonymous:v6', {});
  const mergeTx = await h.db.connect();
  try {
    await mergeTx.query('BEGIN');
    await mergeContacts(mergeTx, 'anonymous:v6', 'fay');
    const waiting = inTransaction(h.db, async (tx) => {
      const { contactId } = await lockContact(tx, 'anonymous:v6');
      await insertEvent(tx, {
        messageId: 'v6-view',
        type: 'track',
        contactId,
        name: 'Product Viewed',
        occurredAt: new Date().toISOString(),
      });
      return contactId;
    });
    await new Promise((r) => setTimeout(r, 200));
    await mergeTx.query('COMMIT');
    expect(await waiting).toBe('fay');
  } finally {
    mergeTx.release();
  }
  expect(await eventsOf('fay')).toBe(1);
  expect(await eventsOf('anonymous:v6')).toBe(0);
});
