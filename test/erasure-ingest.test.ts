/**
 * After a GDPR erasure, the person stays forgotten: a later track, identify, batch, shop or source call for any of
 * their ids (their user id, a device's anonymous id merged into them) stores nothing, starts no journey, and is
 * answered `erased` with a 2xx (a client library retries anything else); an admin write that would create them again
 * (a list member, a consent) is a 410. An admin lifts the erasure for a person who comes back; other people are never
 * affected.
 */
import supertest from 'supertest';
import { API_KEY, Harness, WRITE_KEY } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('erased-welcome', {
    name: 'Welcome',
    status: 'live',
    trigger: { event: 'Signed Up' },
    smartSending: { enabled: false },
    steps: [{ id: 'hello', type: 'email', subject: 'Welcome', html: '<p>hi</p>' }],
  });
});
afterAll(() => h?.stop());

const ID = 'erased-bea';
const VISITOR = 'erased-bea-phone';
const OTHER = 'kept-carl';

const rowsOf = async (sql: string, params: unknown[]) => (await h.db.query(sql, params)).rows;
const storedFor = (id: string) =>
  rowsOf(
    `SELECT 'contact' AS what FROM contacts WHERE id = $1
     UNION ALL SELECT 'event:' || name FROM events WHERE contact_id = $1
     UNION ALL SELECT 'journey:' || flow_id FROM journeys WHERE contact_id = $1`,
    [id],
  );

test('an erased person: track, identify and batch store nothing and start nothing; others are unaffected', async () => {
  await h.identify(ID, { email: 'bea@example.com' });
  // A device's visitor id, merged into the person when they logged in.
  expect(
    (await h.http('post', '/v1/identify').send({ userId: ID, anonymousId: VISITOR, traits: { plan: 'pro' } })).status,
  ).toBe(200);
  const erasure = await h.http('delete', `/v1/contacts/${ID}`);
  expect(erasure.status).toBe(200);
  expect(erasure.body).toMatchObject({ erased: true, ids: 2 });

  const track = await h.http('post', '/v1/track').send({ userId: ID, event: 'Signed Up', messageId: 'er-t1' });
  expect(track.status).toBe(200);
  expect(track.body).toEqual({ success: true, messageId: 'er-t1', erased: true, stored: false });

  const identify = await h
    .http('post', '/v1/identify')
    .send({ userId: ID, traits: { email: 'bea@example.com' }, messageId: 'er-i1' });
  expect(identify.status).toBe(200);
  expect(identify.body).toEqual({ success: true, messageId: 'er-i1', erased: true, stored: false });

  // From the browser, with the public write key, under the device's anonymous id.
  const visitor = await supertest(h.app)
    .post('/v1/track')
    .set('Authorization', `Bearer ${WRITE_KEY}`)
    .send({ anonymousId: VISITOR, event: 'Signed Up', messageId: 'er-v1' });
  expect(visitor.status).toBe(200);
  expect(visitor.body).toMatchObject({ erased: true, stored: false });
  // A new login that would merge the erased device id into a new user id brings nothing of them back either.
  const relogin = await h
    .http('post', '/v1/identify')
    .send({ userId: 'erased-bea-2', anonymousId: VISITOR, traits: {}, messageId: 'er-i2' });
  expect(relogin.body).toMatchObject({ erased: true });

  const batch = await h.http('post', '/v1/batch').send({
    batch: [
      { type: 'track', userId: ID, event: 'Signed Up', messageId: 'er-b1' },
      { type: 'identify', userId: ID, traits: { first_name: 'Bea' }, messageId: 'er-b2' },
      { type: 'track', userId: OTHER, event: 'Signed Up', messageId: 'er-b3' },
    ],
  });
  expect(batch.status).toBe(200);
  expect(batch.body).toMatchObject({ accepted: 3, stored: 1, erased: 2, rejected: 0 });
  expect(batch.body.results).toEqual([
    { index: 0, messageId: 'er-b1', outcome: 'erased' },
    { index: 1, messageId: 'er-b2', outcome: 'erased' },
    expect.objectContaining({ index: 2, messageId: 'er-b3', outcome: 'stored', contactId: OTHER }),
  ]);
  // Only erased calls: still a 2xx, or the client library would send it again and again.
  const onlyErased = await h
    .http('post', '/v1/batch')
    .send({ batch: [{ type: 'track', userId: ID, event: 'Signed Up', messageId: 'er-b4' }] });
  expect(onlyErased.status).toBe(200);
  expect(onlyErased.body).toMatchObject({ accepted: 1, stored: 0, erased: 1 });

  await h.allRouted();
  for (const id of [ID, `anonymous:${VISITOR}`, 'erased-bea-2']) expect(await storedFor(id)).toEqual([]);
  expect(
    await rowsOf(
      "SELECT 1 FROM events WHERE message_id IN ('er-t1','er-i1','er-v1','er-i2','er-b1','er-b2','er-b4')",
      [],
    ),
  ).toEqual([]);
  // The other person, in the same batch, is stored and enters the flow.
  await h.journeyStarted('erased-welcome', OTHER);
  expect(await storedFor(OTHER)).toEqual(
    expect.arrayContaining([{ what: 'contact' }, { what: 'event:Signed Up' }, { what: 'journey:erased-welcome' }]),
  );
  // Admin writes that would create the contact again are refused too (410 erased), and so is any insert.
  expect((await h.http('post', '/v1/lists').send({ id: 'erased-news', name: 'News' })).status).toBe(201);
  const member = await h.http('post', '/v1/lists/erased-news/members').send({ contacts: [{ contactId: ID }] });
  expect(member.status).toBe(410);
  expect(member.body.error.code).toBe('erased');
  const consent = await h
    .http('put', `/v1/contacts/${ID}/consent/email`)
    .send({ status: 'subscribed', source: 'support' });
  expect(consent.status).toBe(410);
  await expect(h.db.query('INSERT INTO contacts (id) VALUES ($1)', [ID])).rejects.toMatchObject({ code: '23E01' });
  expect(await storedFor(ID)).toEqual([]);

  // What is kept of the person: hashes, not their ids.
  const kept = await rowsOf('SELECT id_hash FROM erased_ids', []);
  expect(kept.length).toBeGreaterThanOrEqual(2);
  expect(JSON.stringify(kept)).not.toContain(ID);
  expect(JSON.stringify(kept)).not.toContain(VISITOR);
});

test('the erasure is lifted by an admin only; then the person is stored and enters flows again', async () => {
  expect((await h.http('get', `/v1/contacts/erasures/${ID}`)).body).toEqual({ erased: true });
  const byWriteKey = await supertest(h.app)
    .delete(`/v1/contacts/erasures/${ID}`)
    .set('Authorization', `Bearer ${WRITE_KEY}`);
  expect(byWriteKey.status).toBe(403);

  const lifted = await h.http('delete', `/v1/contacts/erasures/${ID}`);
  expect(lifted.status).toBe(200);
  expect(lifted.body).toMatchObject({ lifted: true, ids: 2 });
  expect((await h.http('get', `/v1/contacts/erasures/${ID}`)).status).toBe(404);
  expect((await h.http('delete', `/v1/contacts/erasures/${ID}`)).status).toBe(404);
  expect((await h.http('delete', '/v1/contacts/erasures/never-erased')).status).toBe(404);
  const log = await rowsOf('SELECT lifted_at IS NOT NULL AS lifted FROM contact_erasures', []);
  expect(log).toContainEqual({ lifted: true });

  const back = await h.track({ userId: ID, event: 'Signed Up', messageId: 'er-back' });
  expect(back).toMatchObject({ duplicate: false });
  await h.journeyStarted('erased-welcome', ID);
  // The device id of that erasure is accepted again with them.
  const device = await supertest(h.app)
    .post('/v1/track')
    .set('Authorization', `Bearer ${API_KEY}`)
    .send({ anonymousId: VISITOR, event: 'Product Viewed', messageId: 'er-back-2' });
  expect(device.body).toMatchObject({ duplicate: false });
  expect(device.body.erased).toBeUndefined();
});
