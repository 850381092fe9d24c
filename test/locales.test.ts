/**
 * Pages and messages Parcours writes itself speak the contact's language: its `locale` trait
 * (fr-FR, fr_CA, FR are French), else the shop's DEFAULT_LOCALE (French here, a shop in France).
 * The shop's overrides (MESSAGES_FILE) replace any text and add languages; its opt-out wording
 * ("STOP au 36111") goes on marketing SMS only. Pages are fetched over HTTP, emails and SMS read
 * from the fake SendGrid and Twilio.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import twilio from 'twilio';
import type { FlowInput } from '../flows/schema';
import { languageOf, parseTextOverrides, textOf, textsOf } from '../locales/texts';
import { readEnv } from '../runtime/env';
import { textsFromEnv } from '../runtime/texts';
import type { CampaignProgress } from '../workflows/campaign-messages';
import { campaignHelpers } from './helpers/campaigns';
import { Harness, TEST_LINKS } from './helpers/harness';

let h: Harness;
const base = {
  status: 'live' as const,
  smartSending: { enabled: false },
  quietHours: { email: null, sms: null, push: null },
};

/** What a shop in France would put in its MESSAGES_FILE. */
const SHOP_TEXTS = parseTextOverrides({
  fr: {
    'email.sender_name': 'Maison Dupont',
    'sms.marketing_footer': 'STOP au 36111',
    'unsubscribe_page.done': 'C’est noté : plus aucun e-mail de la Maison Dupont.',
  },
  en: { 'sms.marketing_footer': 'Reply STOP to opt out' },
  // A language the project does not ship, added by the shop: what it leaves out is in English.
  de: { 'preferences.title': 'Ihre Einstellungen' },
});

beforeAll(async () => {
  h = await Harness.start({ texts: textsOf('fr', SHOP_TEXTS) });
  await h.putFlow('news', {
    ...base,
    name: 'News',
    trigger: { event: 'News Day' },
    steps: [{ id: 'news', type: 'email', subject: 'News', html: '<p>News</p>' }],
  } satisfies FlowInput);
  await h.putFlow('sale', {
    ...base,
    name: 'Sale',
    trigger: { event: 'Sale Day' },
    steps: [{ id: 'sale', type: 'sms', body: 'Soldes -30 % ce week-end' }],
  } satisfies FlowInput);
  await h.putFlow('shipping', {
    ...base,
    name: 'Shipping',
    trigger: { event: 'Order Shipped' },
    steps: [{ id: 'shipped', type: 'sms', body: 'Votre colis est parti', transactional: true }],
  } satisfies FlowInput);
});
afterAll(() => h?.stop());
const { createList, putCampaign, run, deliveries } = campaignHelpers(() => h);

let entries = 0;
async function enter(flowId: string, event: string, userId: string) {
  entries += 1;
  await h.track({ userId, event, messageId: `${event}-${userId}-${entries}` });
  return h.result(flowId, userId);
}
const emailsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to);
const smsTo = (phone: string) => h.twilio.messages.filter((m) => m.to === phone).map((m) => m.body);
const pathOf = (url: string) => url.replace(TEST_LINKS.publicUrl, '');
const consentOf = async (id: string) => (await h.http('get', `/v1/contacts/${id}/consent`)).body;

/** The contact's preference page (behind its latest newsletter's unsubscribe link) and that link. */
async function preferencePage(id: string, traits: Record<string, unknown>) {
  await h.identify(id, { email: `${id}@example.com`, ...traits });
  await enter('news', 'News Day', id);
  const email = emailsTo(`${id}@example.com`).at(-1)!;
  const link = pathOf(email.headers['List-Unsubscribe'].slice(1, -1));
  return { email, link, page: await supertest(h.app).get(link) };
}

test('locale values as shops write them map to a language', () => {
  expect(['fr-FR', 'fr_CA', 'FR', ' fr '].map(languageOf)).toEqual(['fr', 'fr', 'fr', 'fr']);
  expect(languageOf('en-GB')).toBe('en');
  expect(languageOf('not a locale')).toBeUndefined();
  // A misspelt key in the shop's file is an error naming it, not a text silently left in English.
  expect(() => parseTextOverrides({ fr: { 'preferences.titel': 'x' } })).toThrow(/fr.*preferences\.titel/);
  expect(() => textsOf('es')).toThrow(/DEFAULT_LOCALE: no texts for "es"/);
});

test('MESSAGES_FILE is read at start: its texts win, a bad file stops the process naming the key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parcours-texts-'));
  const file = (name: string, json: unknown) => {
    writeFileSync(path.join(dir, name), JSON.stringify(json));
    return path.join(dir, name);
  };
  const good = file('good.json', { fr: { 'preferences.title': 'Vos envies' } });
  const texts = textsFromEnv(readEnv({ DEFAULT_LOCALE: 'fr-FR', MESSAGES_FILE: good }));
  expect(texts.defaultLocale).toBe('fr');
  expect(textOf(texts, 'fr', 'preferences.title')).toBe('Vos envies');
  expect(textOf(texts, 'fr', 'preferences.save')).toBe('Enregistrer mes préférences');
  const bad = file('bad.json', { fr: { 'preferences.titel': 'Vos envies' } });
  expect(() => textsFromEnv(readEnv({ MESSAGES_FILE: bad }))).toThrow(/MESSAGES_FILE: fr.*preferences\.titel/);
  expect(() => textsFromEnv(readEnv({ MESSAGES_FILE: path.join(dir, 'missing.json') }))).toThrow(
    /MESSAGES_FILE: cannot read/,
  );
  expect(() => readEnv({ DEFAULT_LOCALE: 'français' })).toThrow(/DEFAULT_LOCALE/);
});

describe('the double opt-in email and confirm page', () => {
  async function confirmation(id: string, traits: Record<string, unknown>) {
    await h.identify(id, { email: `${id}@example.com`, ...traits });
    const res = await h.http('put', `/v1/contacts/${id}/consent/email`).send({ status: 'pending', source: 'signup' });
    expect(res.body.confirmation).toMatchObject({ status: 'sent' });
    const email = emailsTo(`${id}@example.com`).at(-1)!;
    const link = pathOf(/href="(https:\/\/parcours\.test\/c\/[\w.-]+)"/.exec(email.html)![1]);
    return { email, link };
  }

  test('a French contact gets it in French, from the shop’s sender name, and confirms on a French page', async () => {
    const { email, link } = await confirmation('amelie', { locale: 'fr-FR' });
    expect(email.subject).toBe('Merci de confirmer votre inscription');
    expect(email.html).toContain('Confirmer mon inscription');
    expect(email.html).toContain('ignorez cet e-mail');
    expect(email).toMatchObject({ from: 'shop@example.com', fromName: 'Maison Dupont' });

    const page = await supertest(h.app).get(link);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<html lang="fr">');
    expect(page.text).toContain('Confirmez-vous vouloir recevoir nos e-mails ?');
    const done = await supertest(h.app).post(link).type('form').send('');
    expect(done.status).toBe(200);
    expect(done.text).toContain('Merci : votre inscription est confirmée.');
    expect((await consentOf('amelie')).channels.email.status).toBe('subscribed');
  });

  test('an English contact gets it in English; a contact without locale follows DEFAULT_LOCALE', async () => {
    const english = await confirmation('john', { locale: 'en_GB' });
    expect(english.email.subject).toBe('Please confirm your subscription');
    expect(english.email.html).toContain('Confirm my subscription');
    expect(english.email.fromName).toBeUndefined(); // the shop named its sender in French only
    expect((await supertest(h.app).get(english.link)).text).toContain('Confirm that you want to receive our emails?');

    const unset = await confirmation('dominique', {});
    expect(unset.email.subject).toBe('Merci de confirmer votre inscription');
  });
});

describe('the unsubscribe and preference pages', () => {
  test('a French contact’s are in French, the unsubscribe link of the email too', async () => {
    const { email, link, page } = await preferencePage('camille', { locale: 'FR', phone: '+33611110001' });
    expect(email.html).toContain('>Se désinscrire</a>');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<html lang="fr">');
    expect(page.text).toContain('<h1>Vos préférences</h1>');
    expect(page.text).toContain('E-mails marketing');
    expect(page.text).toContain('SMS marketing');
    expect(page.text).toContain('Enregistrer mes préférences');
    expect(page.text).not.toContain('Your preferences');

    const saved = await supertest(h.app).post(`${link}/preferences`).type('form').send('shown_email=1&shown_sms=0');
    expect(saved.text).toContain('Vos préférences sont enregistrées.');
    expect(saved.text).toContain('E-mails marketing : désinscrit');
    expect(saved.text).toContain('SMS marketing : pas encore choisi');

    // The shop's own text replaces the shipped one.
    const done = await supertest(h.app).post(link).type('form').send('List-Unsubscribe=One-Click');
    expect(done.text).toContain('Désinscription effectuée');
    expect(done.text).toContain('C’est noté : plus aucun e-mail de la Maison Dupont.');
  });

  test('an English contact’s are in English; without locale, DEFAULT_LOCALE; a shop-added language', async () => {
    const english = await preferencePage('mary', { locale: 'en-US' });
    expect(english.email.html).toContain('>Unsubscribe</a>');
    expect(english.page.text).toContain('<h1>Your preferences</h1>');
    expect(english.page.text).toContain('Marketing emails');
    expect(english.page.text).not.toContain('préférences');

    const unset = await preferencePage('claude', {});
    expect(unset.page.text).toContain('<h1>Vos préférences</h1>');

    const german = await preferencePage('hans', { locale: 'de-DE' });
    expect(german.page.text).toContain('<html lang="de">');
    expect(german.page.text).toContain('<h1>Ihre Einstellungen</h1>');
    expect(german.page.text).toContain('Marketing emails'); // not in the shop's file: English
  });

  test('a bad link’s page follows DEFAULT_LOCALE', async () => {
    const res = await supertest(h.app).get('/u/garbage');
    expect(res.status).toBe(400);
    expect(res.text).toContain('Ce lien de désinscription n’est pas valable.');
  });
});

describe('SMS', () => {
  const inbound = (params: Record<string, string>) => {
    const path = '/v1/webhooks/twilio/inbound';
    return supertest(h.app)
      .post(path)
      .type('form')
      .set(
        'X-Twilio-Signature',
        twilio.getExpectedTwilioSignature('twilio-token', `${TEST_LINKS.publicUrl}${path}`, params),
      )
      .send(new URLSearchParams(params).toString());
  };

  test('STOP is answered in the contact’s language', async () => {
    await h.identify('lucie', { phone: '+33622220001', locale: 'fr_CA' });
    await h.identify('peter', { phone: '+447700900001', locale: 'en' });
    const fr = await inbound({ From: '+33622220001', To: '+15550000000', Body: 'STOP' });
    expect(fr.status).toBe(200);
    expect(fr.text).toContain('<Message>Vous êtes désinscrit : vous ne recevrez plus de SMS de notre part.');
    expect((await consentOf('lucie')).channels.sms.status).toBe('unsubscribed');
    const en = await inbound({ From: '+447700900001', To: '+15550000000', Body: 'stop' });
    expect(en.text).toContain('<Message>You are unsubscribed');
    const back = await inbound({ From: '+33622220001', To: '+15550000000', Body: 'START' });
    expect(back.text).toContain('<Message>Vous êtes de nouveau inscrit à nos SMS.');
  });

  test('marketing SMS carry the shop’s STOP wording in the contact’s language; transactional ones do not', async () => {
    await h.identify('manon', { phone: '+33633330001', locale: 'fr-FR' });
    await h.identify('tom', { phone: '+447700900002', locale: 'en-GB' });
    for (const id of ['manon', 'tom'])
      await h.http('put', `/v1/contacts/${id}/consent/sms`).send({ status: 'subscribed', source: 'checkout' });
    await enter('sale', 'Sale Day', 'manon');
    await enter('sale', 'Sale Day', 'tom');
    await enter('shipping', 'Order Shipped', 'manon');
    expect(smsTo('+33633330001')).toEqual(['Soldes -30 % ce week-end\nSTOP au 36111', 'Votre colis est parti']);
    expect(smsTo('+447700900002')).toEqual(['Soldes -30 % ce week-end\nReply STOP to opt out']);
  });
});

test('campaigns: the unsubscribe footer in each recipient’s language (one body), the STOP wording on SMS', async () => {
  await h.identify('cam-fr', { email: 'cam-fr@example.com', phone: '+33644440001', locale: 'fr' });
  await h.identify('cam-en', { email: 'cam-en@example.com', phone: '+447700900003', locale: 'en' });
  for (const id of ['cam-fr', 'cam-en'])
    await h.http('put', `/v1/contacts/${id}/consent/sms`).send({ status: 'subscribed', source: 'checkout' });
  await createList('cam-list', ['cam-fr', 'cam-en']);
  await putCampaign('cam-mail', {
    name: 'Rentrée',
    message: { type: 'email', subject: 'Rentrée', html: '<p>Nouveautés</p>' },
    audience: { lists: ['cam-list'] },
  });
  await putCampaign('cam-sms', {
    name: 'Rentrée SMS',
    message: { type: 'sms', body: 'Rentrée : -20 %' },
    audience: { lists: ['cam-list'] },
  });
  for (const id of ['cam-mail', 'cam-sms']) {
    expect((await h.http('post', `/v1/campaigns/${id}/send`)).status).toBe(202);
    expect((await run(id).result()) as CampaignProgress).toMatchObject({ status: 'completed', sent: 2 });
  }
  expect(new Set(deliveries('cam-mail').map((d) => d.request)).size).toBe(1); // one SendGrid request
  const html = (to: string) => deliveries('cam-mail').find((d) => d.to === to)!.html;
  expect(html('cam-fr@example.com')).toContain('>Se désinscrire</a>');
  expect(html('cam-en@example.com')).toContain('>Unsubscribe</a>');
  expect(smsTo('+33644440001')).toEqual(['Rentrée : -20 %\nSTOP au 36111']);
  expect(smsTo('+447700900003')).toEqual(['Rentrée : -20 %\nReply STOP to opt out']);
});
