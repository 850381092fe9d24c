/**
 * Finding contacts and reading one, against the real servers: search by email, phone, trait,
 * list and segment with cursor pagination; the profile with consent, lists, segments and the
 * computed attributes kept up to date as orders, opens and clicks are stored (and rebuilt by
 * the backfill, and carried over by a merge).
 */
import { backfillStats } from '../db/contact-stats';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start({ runRouter: false });
});
afterAll(() => h?.stop());

const search = async (query: string) => {
  const res = await h.http('get', `/v1/contacts?${query}`);
  if (res.status !== 200) throw new Error(`GET /v1/contacts?${query}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { contacts: { id: string; email: string | null }[]; next_cursor: string | null };
};
const ids = async (query: string) => (await search(query)).contacts.map((c) => c.id);

describe('search', () => {
  beforeAll(async () => {
    await h.identify('s-ada', {
      email: 'Ada@Example.com',
      phone: '+33611111111',
      city: 'Lyon',
      age: 36,
      plan: { tier: 'gold' },
    });
    await h.identify('s-bob', { email: 'bob@example.com', city: 'Paris', age: 41 });
    await h.identify('s-cyd', { email: 'cyd@example.com', city: 'Lyon', plan: { tier: 'free' } });
    expect((await h.http('post', '/v1/lists').send({ id: 'vip', name: 'VIP' })).status).toBe(201);
    await h.http('post', '/v1/lists/vip/members').send({ contacts: [{ contactId: 's-ada' }, { contactId: 's-bob' }] });
    await h.http('delete', '/v1/lists/vip/members/s-bob');
    // In Lyon without an age: s-cyd only. Built for the existing base in the background.
    const condition = {
      all: [
        { profile: { property: 'city', op: 'equals', value: 'Lyon' } },
        { profile: { property: 'age', op: 'not_exists' } },
      ],
    };
    expect(
      (await h.http('post', '/v1/segments').send({ id: 'big-spenders', name: 'Lyon, age unknown', condition })).status,
    ).toBe(202);
    await waitFor(
      async () => (await h.http('get', '/v1/segments/big-spenders')).body.status === 'ready',
      'the segment to be built',
    );
  });

  test('by email (any case), phone, trait (text, number, nested; several values), list and segment', async () => {
    expect(await ids('email=ADA@example.com')).toEqual(['s-ada']);
    expect(await ids('phone=%2B33611111111')).toEqual(['s-ada']);
    expect(await ids('trait.city=Lyon')).toEqual(['s-ada', 's-cyd']);
    expect(await ids('trait.city=Lyon&trait.age=36')).toEqual(['s-ada']);
    expect(await ids('trait.age=41')).toEqual(['s-bob']);
    expect(await ids('trait.plan.tier=free')).toEqual(['s-cyd']);
    expect(await ids('trait.city=Paris&trait.city=Lyon&email=bob@example.com')).toEqual(['s-bob']);
    // Bob left the list: only current members.
    expect(await ids('list=vip')).toEqual(['s-ada']);
    expect(await ids('segment=big-spenders')).toEqual(['s-cyd']);
    expect(await ids('trait.city=Nowhere')).toEqual([]);
  });

  test('cursor pagination walks every contact once, in pages of `limit`', async () => {
    for (let i = 0; i < 25; i++) await h.identify(`page-${String(i).padStart(2, '0')}`, { batch: 'paged' });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof search>> = await search(
        `trait.batch=paged&limit=10${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.contacts.length).toBeLessThanOrEqual(10);
      seen.push(...page.contacts.map((c) => c.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `page-${String(i).padStart(2, '0')}`));
  });

  test('bad parameters are a 400 naming the field', async () => {
    for (const [query, path] of [
      ['limit=0', 'limit'],
      ['limit=x', 'limit'],
      ['cursor=garbage', 'cursor'],
      ['colour=red', 'colour'],
      ['email=a&email=b', 'email'],
      ['trait.=x', 'query'],
    ] as const) {
      const res = await h.http('get', `/v1/contacts?${query}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.error.issues)).toContain(path);
    }
  });
});

describe('profile', () => {
  test('consent per channel, current lists and segments, and computed attributes kept up to date', async () => {
    await h.identify('p-eve', { email: 'eve@example.com' });
    await h.http('put', '/v1/contacts/p-eve/consent/sms').send({ status: 'subscribed', source: 'checkout form' });
    await h.http('post', '/v1/lists/vip/members').send({ contacts: [{ contactId: 'p-eve' }], source: 'import' });
    const at = (day: number) => new Date(Date.UTC(2026, 0, day)).toISOString();
    await h.track({ userId: 'p-eve', event: 'Order Completed', properties: { total: 40.5 }, timestamp: at(1) });
    await h.track({ userId: 'p-eve', event: 'Order Completed', properties: { revenue: '59.5' }, timestamp: at(3) });
    await h.track({
      userId: 'p-eve',
      event: 'Order Completed',
      properties: { total: 10 },
      timestamp: at(2),
      messageId: 'order-3',
    });
    // A retried event is stored once and counted once.
    await h.track({
      userId: 'p-eve',
      event: 'Order Completed',
      properties: { total: 10 },
      timestamp: at(2),
      messageId: 'order-3',
    });
    await h.http('post', '/v1/batch').send({
      batch: [
        { type: 'track', userId: 'p-eve', event: 'Email Opened', timestamp: at(4) },
        { type: 'track', userId: 'p-eve', event: 'Email Clicked', timestamp: at(5) },
        { type: 'track', userId: 'p-eve', event: 'Email Opened', timestamp: at(6) },
      ],
    });
    const res = await h.http('get', '/v1/contacts/p-eve');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: 'p-eve',
      email: 'eve@example.com',
      consent: {
        email: { status: 'never_asked' },
        sms: { status: 'subscribed', source: 'checkout form' },
        push: { status: 'never_asked' },
      },
      lists: [{ id: 'vip', name: 'VIP' }],
      segments: [],
      computed: {
        orderCount: 3,
        totalSpent: 110,
        firstOrderAt: at(1),
        lastOrderAt: at(3),
        lastOpenAt: at(6),
        lastClickAt: at(5),
      },
    });

    // The backfill rebuilds the same figures from the stored events.
    await h.db.query('DELETE FROM contact_stats');
    expect(await backfillStats(h.db, { pageSize: 7 })).toBeGreaterThan(5);
    expect((await h.http('get', '/v1/contacts/p-eve')).body.computed).toMatchObject({
      orderCount: 3,
      totalSpent: 110,
      lastOpenAt: at(6),
    });
  });

  test("a visitor's orders count for the known contact once merged; the anonymous id shows the known contact", async () => {
    await h
      .http('post', '/v1/track')
      .send({ anonymousId: 'visitor-9', event: 'Order Completed', properties: { total: 25 } });
    await h.track({ userId: 'p-fay', event: 'Order Completed', properties: { total: 5 } });
    expect(
      (
        await h
          .http('post', '/v1/identify')
          .send({ userId: 'p-fay', anonymousId: 'visitor-9', traits: { email: 'fay@example.com' } })
      ).status,
    ).toBe(200);
    const res = await h.http('get', '/v1/contacts/anonymous:visitor-9');
    expect(res.body).toMatchObject({ id: 'p-fay', computed: { orderCount: 2, totalSpent: 30 } });
  });

  test('an unknown contact is a 404', async () => {
    expect((await h.http('get', '/v1/contacts/nobody-here')).status).toBe(404);
  });
});
