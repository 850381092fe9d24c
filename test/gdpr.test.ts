/**
 * GDPR access and erasure, against the real servers. The export holds everything kept about
 * the person (profile, consent, lists, events of every id they had, messages with their
 * rendered content, journeys). Erasure leaves nothing of them in any table (every table with a
 * contact column is checked, and every table's text is searched for their id, email and phone),
 * ends their running journey in Temporal (its row says erased), and a later message to the
 * same address is still suppressed although only a hash of it is kept.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import supertest from 'supertest';
import type { FlowInput } from '../flows/schema';
import { API_KEY, Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const flow = (trigger: string, steps: FlowInput['steps']): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false },
  steps,
});
const ID = 'gdpr-ada';
const EMAIL = 'gdpr.ada@example.com';
const PHONE = '+33699887766';
const VISITOR = 'anonymous:gdpr-visitor';

async function tablesWithText(text: string): Promise<string[]> {
  const { rows } = await h.db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
  );
  const found: string[] = [];
  for (const { table_name } of rows) {
    const hit = await h.db.query(`SELECT 1 FROM "${table_name}" t WHERE t::text ILIKE '%' || $1 || '%' LIMIT 1`, [
      text,
    ]);
    if (hit.rowCount) found.push(table_name);
  }
  return found;
}

describe('a person with history', () => {
  beforeAll(async () => {
    await h.putFlow(
      'gdpr-receipt',
      flow('Order Completed', [
        {
          id: 'thanks',
          type: 'email',
          subject: 'Thanks {{ contact.first_name }}',
          html: '<p>Order {{ event.properties.order_id }}</p>',
        },
      ]),
    );
    await h.putFlow(
      'gdpr-nurture',
      flow('Signed Up', [
        { id: 'wait', type: 'delay', duration: '30 days' },
        { id: 'hello', type: 'email', subject: 'Still there?', html: '<p>hi</p>' },
      ]),
    );
    // Browsing as a visitor, then logging in: the visitor's events become the person's.
    expect(
      (
        await h
          .http('post', '/v1/track')
          .send({ anonymousId: 'gdpr-visitor', event: 'Product Viewed', properties: { sku: 'SKU-1' } })
      ).status,
    ).toBe(200);
    expect(
      (
        await h
          .http('post', '/v1/identify')
          .send({ userId: ID, anonymousId: 'gdpr-visitor', traits: { email: EMAIL, phone: PHONE, first_name: 'Ada' } })
      ).status,
    ).toBe(200);
    await h.http('post', '/v1/group').send({ userId: ID, groupId: 'acme', traits: { name: 'Acme' } });
    await h
      .http('put', `/v1/contacts/${ID}/push-subscriptions`)
      .send({ endpoint: 'https://push.example.com/gdpr-ada', keys: { p256dh: 'k', auth: 'a' } });
    expect(
      (await h.http('put', `/v1/contacts/${ID}/consent/email`).send({ status: 'subscribed', source: 'signup form' }))
        .status,
    ).toBe(200);
    expect((await h.http('post', '/v1/lists').send({ id: 'news', name: 'Newsletter' })).status).toBe(201);
    expect((await h.http('post', '/v1/lists/news/members').send({ contacts: [{ contactId: ID }] })).status).toBe(200);
    await h.track({ userId: ID, event: 'Order Completed', properties: { order_id: 'A-100', total: 42 } });
    expect((await h.result('gdpr-receipt', ID)).steps[0].outcome).toMatch(/sent/);
    await h.track({ userId: ID, event: 'Signed Up' });
    await h.journeyStarted('gdpr-nurture', ID);
  });

  test("the export holds everything: profile, consent, lists, every id's events, messages with their content, journeys", async () => {
    const res = await h.http('get', `/v1/contacts/${VISITOR}/export`);
    expect(res.status).toBe(200);
    const doc = JSON.parse(res.text);
    expect(doc.contactId).toBe(ID);
    expect(doc.ids.sort()).toEqual([VISITOR, ID].sort());
    expect(doc.profile).toMatchObject({
      email: EMAIL,
      phone: PHONE,
      consent: { email: { status: 'subscribed' } },
      lists: [{ id: 'news' }],
      computed: { orderCount: 1, totalSpent: 42 },
    });
    const names = doc.data.events.map((e: { name: string | null; type: string }) => e.name ?? e.type);
    expect(names).toEqual(expect.arrayContaining(['Product Viewed', 'identify', 'Order Completed', 'Signed Up']));
    expect(doc.data.messages).toEqual([
      expect.objectContaining({ recipient: EMAIL, content: expect.objectContaining({ subject: 'Thanks Ada' }) }),
    ]);
    expect(doc.data.journeys.map((j: { flow_id: string }) => j.flow_id).sort()).toEqual([
      'gdpr-nurture',
      'gdpr-receipt',
    ]);
    expect(doc.data.contact_consent).toEqual([
      expect.objectContaining({ channel: 'email', status: 'subscribed', source: 'signup form' }),
    ]);
    expect(doc.data.list_memberships).toEqual([expect.objectContaining({ list_id: 'news' })]);
    expect(doc.data.push_subscriptions).toEqual([
      expect.objectContaining({ endpoint: 'https://push.example.com/gdpr-ada' }),
    ]);
    expect(doc.data.contact_groups).toEqual([expect.objectContaining({ group_id: 'acme' })]);
    expect(doc.data.contacts.map((c: { id: string }) => c.id).sort()).toEqual([VISITOR, ID].sort());
  });

  test('erasure: gone from every table, the running journey ended (its row says erased), the address still suppressed', async () => {
    const nurture = h.journey('gdpr-nurture', ID);
    expect((await nurture.describe()).status.name).toBe('RUNNING');
    expect(await tablesWithText(EMAIL)).not.toEqual([]);

    const res = await supertest(h.app).delete(`/v1/contacts/${ID}`).set('Authorization', `Bearer ${API_KEY}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ erased: true, ids: 2, journeysEnded: 1 });

    // Every table keyed by contact, whichever module owns it, has nothing of either id.
    const { rows: keyed } = await h.db.query<{ table_name: string; column_name: string }>(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name LIKE '%contact%'",
    );
    expect(keyed.map((k) => k.table_name)).toEqual(
      expect.arrayContaining([
        'events',
        'messages',
        'journeys',
        'push_subscriptions',
        'contact_consent',
        'list_memberships',
        'contact_aliases',
        'contact_stats',
      ]),
    );
    for (const { table_name, column_name } of keyed) {
      const left = await h.db.query(`SELECT 1 FROM "${table_name}" WHERE "${column_name}"::text = ANY($1)`, [
        [ID, VISITOR],
      ]);
      expect({ table_name, column_name, rows: left.rowCount }).toEqual({ table_name, column_name, rows: 0 });
    }
    // And no table holds their id, address, phone or rendered content anywhere in its rows.
    for (const text of [ID, EMAIL, PHONE, 'gdpr-visitor', 'Thanks Ada', 'SKU-1'])
      expect({ text, tables: await tablesWithText(text) }).toEqual({ text, tables: [] });

    // The journey was ended in Temporal with the reason, and its row (kept for the flow's statistics) says so.
    const description = await nurture
      .describe()
      .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? undefined : Promise.reject(err)));
    if (description) expect(description.status.name).toBe('TERMINATED');
    const rows = await h.db.query<{ status: string; exit_reason: string }>(
      "SELECT status, exit_reason FROM journeys WHERE flow_id = 'gdpr-nurture'",
    );
    expect(rows.rows).toEqual([{ status: 'terminated', exit_reason: 'erased' }]);
    expect((await h.db.query("SELECT 1 FROM messages WHERE flow_id = 'gdpr-receipt'")).rowCount).toBe(1);

    // Someone signs up again later with the same address (any case): marketing stays suppressed.
    expect((await h.http('get', `/v1/contacts/${ID}`)).status).toBe(404);
    await h.identify('gdpr-new', { email: EMAIL.toUpperCase() });
    await h.track({ userId: 'gdpr-new', event: 'Order Completed', properties: { order_id: 'B-1' } });
    await h.result('gdpr-receipt', 'gdpr-new');
    const again = await h.db.query<{ status: string; reason: string }>(
      "SELECT status, reason FROM messages WHERE contact_id = 'gdpr-new'",
    );
    expect(again.rows).toEqual([{ status: 'skipped', reason: 'address is suppressed' }]);
    expect(h.sendgrid.emails.filter((e) => e.to === EMAIL)).toHaveLength(1);
  });

  test("Temporal histories hold ciphertext; after erasure the person's history is unreadable, another's still decodes", async () => {
    await h.putFlow(
      'gdpr-history',
      flow('History Check', [
        { id: 'note', type: 'email', subject: 'Your note', html: '<p>{{ event.properties.note }}</p>' },
      ]),
    );
    const people = [
      { id: 'hist-ann', email: 'hist.ann@example.com', note: 'Ann private note' },
      { id: 'hist-bob', email: 'hist.bob@example.com', note: 'Bob private note' },
    ];
    for (const p of people) {
      await h.identify(p.id, { email: p.email });
      await h.track({ userId: p.id, event: 'History Check', properties: { note: p.note } });
      await h.result('gdpr-history', p.id);
    }
    expect(h.sendgrid.emails.filter((e) => e.subject === 'Your note').map((e) => e.html)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Ann private note'),
        expect.stringContaining('Bob private note'),
      ]),
    );
    const history = async (contactId: string) => h.journey('gdpr-history', contactId).fetchHistory();
    // As stored by Temporal: nothing of the note or the address in the clear, anywhere in the history.
    for (const p of people) {
      const raw = Buffer.from(temporal.api.history.v1.History.encode(await history(p.id)).finish());
      expect(raw.includes(p.note)).toBe(false);
      expect(raw.includes(p.email)).toBe(false);
    }
    const decodeInput = async (contactId: string) => {
      const started = (await history(contactId)).events![0].workflowExecutionStartedEventAttributes!;
      const payloads = started.input!.payloads!.map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data!).toString('base64'),
      }));
      const res = await h.http('post', '/v1/codec/decode').send({ payloads });
      expect(res.status).toBe(200);
      return (res.body.payloads as { metadata: Record<string, string>; data: string }[]).map((p) => ({
        encoding: Buffer.from(p.metadata.encoding, 'base64').toString(),
        data: Buffer.from(p.data, 'base64').toString(),
      }));
    };
    // Support reads both through the codec endpoint while both exist.
    for (const p of people) {
      const [input] = await decodeInput(p.id);
      expect(input.encoding).toBe('json/plain');
      expect(input.data).toContain(p.note);
    }
    // No key, no codec: a request without an admin key is refused.
    expect((await supertest(h.app).post('/v1/codec/decode').send({ payloads: [] })).status).toBe(401);

    expect((await h.http('delete', '/v1/contacts/hist-ann')).status).toBe(200);
    const [annAfter] = await decodeInput('hist-ann');
    expect(annAfter.encoding).toBe('binary/encrypted');
    expect(annAfter.data).not.toContain('Ann private note');
    const [bobAfter] = await decodeInput('hist-bob');
    expect(bobAfter.data).toContain('Bob private note');
  });

  test('the codec endpoint answers a 400 naming the field for a malformed payload', async () => {
    const res = await h.http('post', '/v1/codec/decode').send({ payloads: [{ data: 'not base64!' }] });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('payloads');
  });

  test('erasing an unknown contact is a 404', async () => {
    expect(
      (await supertest(h.app).delete('/v1/contacts/nobody-at-all').set('Authorization', `Bearer ${API_KEY}`)).status,
    ).toBe(404);
    expect((await h.http('get', '/v1/contacts/nobody-at-all/export')).status).toBe(404);
  });
});
