/**
 * The preference page behind every marketing email's unsubscribe link: per-channel choices
 * (only what the person changed is applied), with RFC 8058 one-click unsubscribe kept working.
 */
import { sign } from 'node:crypto';
import supertest from 'supertest';
import type { FlowInput } from '../flows/schema';
import { Harness, SENDGRID_WEBHOOK_KEYS, TEST_LINKS } from './helpers/harness';

let h: Harness;
const base = {
  status: 'live' as const,
  smartSending: { enabled: false },
  quietHours: { email: null, sms: null, push: null },
};

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('news', {
    ...base,
    name: 'News',
    trigger: { event: 'News Day' },
    steps: [{ id: 'news', type: 'email', subject: 'News', html: '<p>News</p>' }],
  } satisfies FlowInput);
  await h.putFlow('texts', {
    ...base,
    name: 'Texts',
    trigger: { event: 'Text Day' },
    steps: [{ id: 'text', type: 'sms', body: 'Sale today' }],
  } satisfies FlowInput);
});
afterAll(() => h?.stop());

let entries = 0;
async function enter(flowId: string, event: string, userId: string) {
  entries += 1;
  await h.track({ userId, event, messageId: `${event}-${userId}-${entries}` });
  return h.result(flowId, userId);
}
const emailsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to);
const smsTo = (phone: string) => h.twilio.messages.filter((m) => m.to === phone);
const consentOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}/consent`)).body;
/** The path of the unsubscribe link in the contact's latest marketing email. */
const unsubscribePath = (to: string) =>
  emailsTo(to).at(-1)!.headers['List-Unsubscribe'].slice(1, -1).replace(TEST_LINKS.publicUrl, '');

/** A contact with email (never asked: opt_out sends) and SMS (subscribed), who got one newsletter. */
async function reader(id: string, phone: string) {
  await h.identify(id, { email: `${id}@example.com`, phone });
  await h.http('put', `/v1/contacts/${id}/consent/sms`).send({ status: 'subscribed', source: 'checkout' });
  await enter('news', 'News Day', id);
  return unsubscribePath(`${id}@example.com`);
}

test('the page shows each channel; unticking SMS unsubscribes from SMS only', async () => {
  const link = await reader('pat', '+33655555555');
  const page = await supertest(h.app).get(link);
  expect(page.status).toBe(200);
  expect(page.text).toContain('p***@example.com');
  expect(page.text).toMatch(/name="email" value="on" checked/);
  expect(page.text).toMatch(/name="sms" value="on" checked/);
  expect(page.text).toContain('<form method="post">'); // one-click unsubscribe still on the page
  expect((await consentOf('pat')).history).toHaveLength(1); // a GET changes nothing

  const saved = await supertest(h.app)
    .post(`${link}/preferences`)
    .set('User-Agent', 'Browser/1')
    .type('form')
    .send('email=on&shown_email=1&shown_sms=1');
  expect(saved.status).toBe(200);
  const consent = await consentOf('pat');
  expect(consent.channels.sms).toMatchObject({
    status: 'unsubscribed',
    source: 'preference_page',
    userAgent: 'Browser/1',
  });
  expect(consent.channels.email.status).toBe('never_asked');

  await enter('texts', 'Text Day', 'pat');
  await enter('news', 'News Day', 'pat');
  expect(smsTo('+33655555555')).toEqual([]);
  expect(emailsTo('pat@example.com').map((e) => e.subject)).toEqual(['News', 'News']);
});

test('one-click unsubscribe still works and also records the email consent', async () => {
  const link = await reader('oli', '+33666666666');
  const res = await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
  expect(res.status).toBe(200);
  const consent = await consentOf('oli');
  expect(consent.channels.email).toMatchObject({ status: 'unsubscribed', source: 'unsubscribe_link' });
  expect(consent.channels.sms.status).toBe('subscribed');
  await enter('news', 'News Day', 'oli');
  await enter('texts', 'Text Day', 'oli');
  expect(emailsTo('oli@example.com')).toHaveLength(1);
  expect(smsTo('+33666666666').map((m) => m.body)).toEqual(['Sale today']);
});

test('resubscribing on the page lifts the unsubscribe, and a later unsubscribe counts again', async () => {
  const link = await reader('max', '+33677777777');
  await supertest(h.app).post(`${link}/preferences`).type('form').send('shown_email=1&sms=on&shown_sms=1');
  expect((await consentOf('max')).channels.email).toMatchObject({ status: 'unsubscribed', source: 'preference_page' });
  await enter('news', 'News Day', 'max');
  expect(emailsTo('max@example.com')).toHaveLength(1);

  await supertest(h.app).post(`${link}/preferences`).type('form').send('email=on&shown_email=0&sms=on&shown_sms=1');
  expect((await consentOf('max')).channels.email).toMatchObject({ status: 'subscribed', source: 'preference_page' });
  await enter('news', 'News Day', 'max');
  expect(emailsTo('max@example.com')).toHaveLength(2);

  await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
  expect((await consentOf('max')).channels.email.status).toBe('unsubscribed');
  await enter('news', 'News Day', 'max');
  expect(emailsTo('max@example.com')).toHaveLength(2);
  expect(
    (await consentOf('max')).history.map(
      (e: { properties: { channel: string; status: string } }) => `${e.properties.channel}:${e.properties.status}`,
    ),
  ).toEqual(['sms:subscribed', 'email:unsubscribed', 'email:subscribed', 'email:unsubscribed']);
});

test('a forged preferences link is a 400 page', async () => {
  const res = await supertest(h.app)
    .post('/u/eyJwIjoidW5zdWJzY3JpYmUiLCJtIjoieCJ9.forged/preferences')
    .type('form')
    .send('shown_sms=1');
  expect(res.status).toBe(400);
});

test('a spam report from SendGrid also withdraws the email consent', async () => {
  await reader('spammy', '+33688888888');
  const messageId = (await h.db.query("SELECT id FROM messages WHERE contact_id = 'spammy' AND step_id = 'news'"))
    .rows[0].id as string;
  const body = JSON.stringify([
    {
      email: 'spammy@example.com',
      timestamp: Math.floor(Date.now() / 1000),
      event: 'spamreport',
      sg_event_id: `spam-${messageId}`,
      parcours_message_id: messageId,
    },
  ]);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await supertest(h.app)
    .post('/v1/webhooks/sendgrid')
    .set('content-type', 'application/json')
    .set(
      'X-Twilio-Email-Event-Webhook-Signature',
      sign('sha256', Buffer.from(timestamp + body), SENDGRID_WEBHOOK_KEYS.privateKey).toString('base64'),
    )
    .set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp)
    .send(body);
  expect(res.status).toBe(200);
  expect((await consentOf('spammy')).channels.email).toMatchObject({ status: 'unsubscribed', source: 'spam_report' });
});

test('the page lists the lists the contact is on; unticking one leaves it (List Left, source preference_page)', async () => {
  await h.http('post', '/v1/lists').send({ id: 'weekly', name: 'Weekly picks' });
  await h.http('post', '/v1/lists').send({ id: 'vip', name: 'VIP' });
  await h.http('post', '/v1/lists').send({ id: 'testers', name: 'Testers' });
  const link = await reader('lea', '+33688888888');
  await h.http('post', '/v1/lists/weekly/members').send({ contacts: [{ contactId: 'lea' }] });
  await h.http('post', '/v1/lists/vip/members').send({ contacts: [{ contactId: 'lea' }] });
  const page = await supertest(h.app).get(link);
  expect(page.text).toContain('Weekly picks');
  expect(page.text).toContain('VIP');
  expect(page.text).not.toContain('Testers'); // lists the person is not on are not offered

  const saved = await supertest(h.app)
    .post(`${link}/preferences`)
    .type('form')
    .send(
      'email=on&shown_email=1&sms=on&shown_sms=1&list_vip=on&shown_list_vip=1&shown_list_weekly=1&shown_list_testers=1',
    );
  expect(saved.status).toBe(200);
  const members = async (list: string) =>
    ((await h.http('get', `/v1/lists/${list}/members`)).body.members as { contactId: string }[]).map(
      (m) => m.contactId,
    );
  expect(await members('weekly')).not.toContain('lea');
  expect(await members('vip')).toContain('lea');
  const left = await h.db.query("SELECT properties FROM events WHERE contact_id = 'lea' AND name = 'List Left'");
  expect(left.rows.map((r) => r.properties)).toEqual([
    { list_id: 'weekly', list_name: 'Weekly picks', source: 'preference_page' },
  ]);
  expect((await consentOf('lea')).channels.sms.status).toBe('subscribed'); // channels untouched
});

describe('a crafted preference form', () => {
  /** A contact with an email only: the page shows the email channel, no SMS, no push. */
  async function emailOnly(id: string) {
    await h.identify(id, { email: `${id}@example.com` });
    await enter('news', 'News Day', id);
    const link = unsubscribePath(`${id}@example.com`);
    const page = await supertest(h.app).get(link);
    expect(page.text).toContain('name="shown_email"');
    expect(page.text).not.toContain('name="shown_sms"');
    expect(page.text).not.toContain('name="shown_push"');
    return link;
  }
  const statuses = async (id: string) => {
    const { channels, history } = await consentOf(id);
    return { email: channels.email.status, sms: channels.sms.status, push: channels.push.status, history };
  };

  test('channels the page did not show are ignored: SMS and push stay as they were', async () => {
    const link = await emailOnly('eve');
    const res = await supertest(h.app)
      .post(`${link}/preferences`)
      .type('form')
      .send('email=on&shown_email=1&sms=on&shown_sms=0&push=on&shown_push=0');
    // Ignored rather than refused: a page shown before an address went away must still save the rest.
    expect(res.status).toBe(200);
    expect(await statuses('eve')).toEqual({
      email: 'never_asked',
      sms: 'never_asked',
      push: 'never_asked',
      history: [],
    });
    await h.identify('eve', { phone: '+33699990001' });
    await enter('texts', 'Text Day', 'eve');
    expect(smsTo('+33699990001')).toEqual([]);
  });

  test('values the page never offers are a 400 naming the field, and nothing changes', async () => {
    const link = await emailOnly('mallory');
    for (const [form, field] of [
      ['email=subscribed&shown_email=0', 'email'],
      ['shown_email=yes', 'shown_email'],
      ['email=on&email=on&shown_email=0', 'email'],
      ['shown_email=1&sms=subscribed&shown_sms=0', 'sms'],
    ]) {
      const res = await supertest(h.app).post(`${link}/preferences`).type('form').send(form);
      expect(res.status).toBe(400);
      expect(res.text).toContain('nothing was changed');
      expect(res.text).toContain(`<code>${field}</code>`);
    }
    expect(await statuses('mallory')).toEqual({
      email: 'never_asked',
      sms: 'never_asked',
      push: 'never_asked',
      history: [],
    });
  });
});
