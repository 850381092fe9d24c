/** Identify traits `lists: { <id>: true | false }` join and leave lists through the ingestion store. */
import supertest from 'supertest';
import { listIdsOf } from '../db/lists';
import { API_KEY, Harness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

test('an identify with lists traits joins and leaves; the profile does not keep them; a Shopify customer joins with source shopify', async () => {
  for (const id of ['newsletter', 'vip']) {
    expect(
      (await supertest(h.app).post('/v1/lists').set('Authorization', `Bearer ${API_KEY}`).send({ id, name: id }))
        .status,
    ).toBe(201);
  }
  await h.identify('trait-user', { email: 'tu@example.com', lists: { newsletter: true, vip: true } });
  expect(await listIdsOf(h.db, 'trait-user')).toEqual(['newsletter', 'vip']);
  await h.identify('trait-user', { lists: { vip: false, ghost: true } });
  expect(await listIdsOf(h.db, 'trait-user')).toEqual(['newsletter']);
  const profile = await supertest(h.app).get('/v1/contacts/trait-user').set('Authorization', `Bearer ${API_KEY}`);
  expect(profile.body.traits).toEqual({ email: 'tu@example.com' });
  const events = await h.db.query<{ name: string; list: string; source: string }>(
    "SELECT name, properties->>'list_id' AS list, properties->>'source' AS source FROM events WHERE contact_id = 'trait-user' AND name LIKE 'List %' ORDER BY id",
  );
  expect(events.rows).toEqual([
    { name: 'List Joined', list: 'newsletter', source: 'identify' },
    { name: 'List Joined', list: 'vip', source: 'identify' },
    { name: 'List Left', list: 'vip', source: 'identify' },
  ]);
});

test('an anonymous visitor who subscribed, then logs in: the known contact is on the list, joined when the visitor did', async () => {
  const http = (m: 'post' | 'get', p: string) => supertest(h.app)[m](p).set('Authorization', `Bearer ${API_KEY}`);
  expect((await http('post', '/v1/lists').send({ id: 'promo', name: 'Promo' })).status).toBe(201);
  expect(
    (await http('post', '/v1/lists/newsletter/members').send({ contacts: [{ contactId: 'anonymous:visitor-1' }] }))
      .status,
  ).toBe(200);
  expect(
    (await http('post', '/v1/lists/promo/members').send({ contacts: [{ contactId: 'anonymous:visitor-1' }] })).status,
  ).toBe(200);
  expect(
    (await http('post', '/v1/lists/newsletter/members').send({ contacts: [{ contactId: 'logged-in' }] })).status,
  ).toBe(200);
  const before = (await http('get', '/v1/lists/newsletter/members/anonymous:visitor-1')).body.periods[0];
  const res = await http('post', '/v1/identify').send({
    userId: 'logged-in',
    anonymousId: 'visitor-1',
    traits: { email: 'li@example.com' },
  });
  expect(res.status).toBe(200);
  expect(await listIdsOf(h.db, 'logged-in')).toEqual(['newsletter', 'promo']);
  expect(await listIdsOf(h.db, 'anonymous:visitor-1')).toEqual([]);
  const periods = (await http('get', '/v1/lists/newsletter/members/logged-in')).body.periods;
  expect(periods.filter((p: { leftAt: string | null }) => p.leftAt === null)).toEqual([before]);
});

test('adding or removing a merged-away id acts on the contact it became', async () => {
  const http = (m: 'post' | 'get' | 'delete', p: string) =>
    supertest(h.app)[m](p).set('Authorization', `Bearer ${API_KEY}`);
  expect((await http('post', '/v1/identify').send({ userId: 'became', anonymousId: 'was', traits: {} })).status).toBe(
    200,
  );
  const added = await http('post', '/v1/lists/promo/members').send({ contacts: [{ contactId: 'anonymous:was' }] });
  expect(added.body.members).toEqual([{ index: 0, contactId: 'became', status: 'joined' }]);
  expect(await listIdsOf(h.db, 'became')).toEqual(['promo']);
  expect((await http('delete', '/v1/lists/promo/members/anonymous:was')).body.left).toBe(true);
  expect(await listIdsOf(h.db, 'became')).toEqual([]);
});
