/**
 * Double opt-in end to end under CONSENT_EMAIL=opt_in (what a shop under EU/CNIL rules sets):
 * no marketing email before the confirmation; `pending` sends the confirmation email through the
 * real SendGrid client; the link's GET only shows a button (link scanners), its POST confirms;
 * the stored Consent Changed event starts a flow triggered on it.
 */
import supertest from 'supertest';
import { addressHash } from '../engagement/double-opt-in';
import { signLink } from '../sending/tokens';
import type { FlowInput } from '../flows/schema';
import { Harness, TEST_LINKS } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start({ consentEmail: 'opt_in' });
  const base = { status: 'live' as const, smartSending: { enabled: false } };
  await h.putFlow('welcome-confirmed', {
    ...base,
    name: 'Welcome confirmed subscribers',
    trigger: {
      event: 'Consent Changed',
      where: [
        { property: 'channel', op: 'equals', value: 'email' },
        { property: 'status', op: 'equals', value: 'subscribed' },
      ],
    },
    steps: [{ id: 'welcome', type: 'email', subject: 'Welcome aboard', html: '<p>Welcome</p>' }],
  } satisfies FlowInput);
  await h.putFlow('promo', {
    ...base,
    name: 'Promo',
    trigger: { event: 'Promo Day' },
    steps: [{ id: 'promo', type: 'email', subject: 'Promo', html: '<p>-20%</p>' }],
  } satisfies FlowInput);
});
afterAll(() => h?.stop());

const emailsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to);
const consentOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}/consent`)).body;
const pathOf = (url: string) => url.replace(TEST_LINKS.publicUrl, '');
let promos = 0;
async function promo(userId: string) {
  promos += 1;
  await h.track({ userId, event: 'Promo Day', messageId: `promo-${userId}-${promos}` });
  return h.result('promo', userId);
}

test('pending sends a confirmation; clicking it subscribes the contact, is stored as an event, and a flow triggered on it starts', async () => {
  await h.identify('ada', { email: 'ada@example.com' });
  await promo('ada');
  expect(emailsTo('ada@example.com')).toEqual([]);
  const skipped = (await h.http('get', '/v1/contacts/ada/messages')).body.messages.find(
    (m: { stepId: string }) => m.stepId === 'promo',
  );
  expect(skipped).toMatchObject({
    status: 'skipped',
    reason: 'no email consent (never_asked; CONSENT_EMAIL=opt_in requires subscribed)',
  });

  const res = await h
    .http('put', '/v1/contacts/ada/consent/email')
    .send({ status: 'pending', source: 'signup_form', ip: '198.51.100.7' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    status: 'pending',
    changed: true,
    previous: 'never_asked',
    confirmation: { status: 'sent' },
  });

  const [confirmation] = emailsTo('ada@example.com');
  expect(confirmation.subject).toBe('Please confirm your subscription');
  expect(confirmation.headers).toEqual({}); // transactional: no List-Unsubscribe
  const link = /href="(https:\/\/parcours\.test\/c\/[\w.-]+)"/.exec(confirmation.html)![1];
  expect(confirmation.customArgs.parcours_message_id).toBe(res.body.confirmation.messageId);
  // The stored content holds the real link (the outbox in development shows it).
  const stored = (await h.http('get', '/v1/contacts/ada/messages')).body.messages.find(
    (m: { stepId: string }) => m.stepId === 'confirm-email',
  );
  expect(stored).toMatchObject({ status: 'sent', transactional: true, recipient: 'ada@example.com' });
  expect(stored.content.html).toContain(link);

  // A link scanner's GET changes nothing.
  const page = await supertest(h.app).get(pathOf(link));
  expect(page.status).toBe(200);
  expect(page.text).toContain('Confirm my subscription');
  expect((await consentOf('ada')).channels.email.status).toBe('pending');

  const confirmed = await supertest(h.app)
    .post(pathOf(link))
    .set('User-Agent', 'Mozilla/5.0 (test)')
    .type('form')
    .send('');
  expect(confirmed.status).toBe(200);
  expect(confirmed.text).toContain('confirmed');

  const consent = await consentOf('ada');
  expect(consent.channels.email).toMatchObject({
    status: 'subscribed',
    source: 'double_opt_in',
    userAgent: 'Mozilla/5.0 (test)',
  });
  expect(consent.channels.email.ip).toBeTruthy();
  expect(
    consent.history.map((e: { properties: Record<string, unknown> }) => [
      e.properties.status,
      e.properties.previous,
      e.properties.source,
    ]),
  ).toEqual([
    ['pending', 'never_asked', 'signup_form'],
    ['subscribed', 'pending', 'double_opt_in'],
  ]);

  // The flow triggered on "Consent Changed" (email, subscribed) runs and, subscribed now, the email goes out.
  await h.journeyStarted('welcome-confirmed', 'ada');
  expect(await h.result('welcome-confirmed', 'ada')).toMatchObject({ status: 'completed' });
  await promo('ada');
  expect(emailsTo('ada@example.com').map((e) => e.subject)).toEqual([
    'Please confirm your subscription',
    'Welcome aboard',
    'Promo',
  ]);

  // Clicking again: already confirmed, nothing stored twice.
  const again = await supertest(h.app).post(pathOf(link)).type('form').send('');
  expect(again.status).toBe(200);
  expect(again.text).toContain('already confirmed');
  expect((await consentOf('ada')).history).toHaveLength(2);
});

test('a forged, expired or other-purpose link is a 400 page and changes nothing', async () => {
  await h.identify('bob', { email: 'bob@example.com' });
  const res = await h.http('put', '/v1/contacts/bob/consent/email').send({ status: 'pending', source: 'signup_form' });
  const event = String(res.body.eventId);
  const claims = { m: event, c: 'bob', a: addressHash('bob@example.com') };
  const expired = signLink(TEST_LINKS.secret, { p: 'confirm', ...claims, x: Math.floor(Date.now() / 1000) - 60 });
  const unsubscribe = signLink(TEST_LINKS.secret, { p: 'unsubscribe', ...claims });
  const forged = signLink('not-the-secret', { p: 'confirm', ...claims, x: Math.floor(Date.now() / 1000) + 3600 });
  const otherAddress = signLink(TEST_LINKS.secret, {
    p: 'confirm',
    ...claims,
    a: addressHash('someone-else@example.com'),
    x: Math.floor(Date.now() / 1000) + 3600,
  });
  for (const token of [expired, unsubscribe, forged, 'garbage']) {
    for (const method of ['get', 'post'] as const) {
      const r = await supertest(h.app)[method](`/c/${token}`);
      expect(r.status).toBe(400);
    }
  }
  // Signed for another address: the page shows, the confirmation is refused.
  expect((await supertest(h.app).post(`/c/${otherAddress}`)).status).toBe(400);
  expect((await supertest(h.app).get(`/c/${expired}`)).text).toContain('expired');
  expect((await consentOf('bob')).channels.email.status).toBe('pending');
});

test('a repeated pending does not send a second confirmation', async () => {
  await h.identify('cy', { email: 'cy@example.com' });
  await h.http('put', '/v1/contacts/cy/consent/email').send({ status: 'pending', source: 'signup_form' });
  const second = await h
    .http('put', '/v1/contacts/cy/consent/email')
    .send({ status: 'pending', source: 'signup_form' });
  expect(second.body).toMatchObject({ changed: false, confirmation: { status: 'sent' } });
  expect(emailsTo('cy@example.com')).toHaveLength(1);
});
