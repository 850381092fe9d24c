/**
 * Public routes behind the links in our messages, no login: the preference page behind the
 * unsubscribe link (channels, and lists once wired) with RFC 8058 one-click POST kept as it
 * was, the double opt-in confirm page, the open pixel and click redirects. GETs only show pages,
 * since link scanners prefetch them; POSTs change things. Tokens are signed (sending/tokens.ts).
 */
import express, { Router, type Request } from 'express';
import { CONSENT_CHANNELS, type ConsentChannel, type ConsentEmailPolicy } from '../../audiences/consent-policy';
import { consentOf, consentStatusOf, writeConsent, type ConsentChangeResult } from '../../db/consent';
import { getContact } from '../../db/contacts';
import { getMessage } from '../../db/messages';
import { inTransaction, type Queryable } from '../../db/pool';
import { pushSubscriptionsOf } from '../../db/push-subscriptions';
import { linkExpired, verifyLink } from '../../sending/tokens';
import { recordEngagement } from '../../engagement/record';
import { PendingEngagement } from '../../engagement/pending';
import type { LinkSettings } from '../../sending/links';
import { routeStored } from '../../routing/router';
import { addressHash } from '../../engagement/double-opt-in';
import type { IngestDeps } from '../events/ingest';
import { contactLanguage, ENGLISH_ONLY, translator, type Texts, type TextKey } from '../../locales/texts';
import {
  confirmPage,
  escapeHtml,
  invalidLinkPage,
  maskEmail,
  maskPhone,
  messagePage,
  page,
  preferencePage,
  savedPage,
  unsubscribePage,
  type PageTexts,
  type PreferenceChannel,
} from './pages';

// 1x1 transparent GIF.
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/**
 * LISTS HOOK: the lists the preference page shows and applies. The lead wires it once the
 * lists table exists (lists helper): `section` renders form fields inside the preferences form,
 * `apply` receives the posted form in the same request, after the channels.
 */
export interface PreferenceListsHook {
  section(db: Queryable, contactId: string, p: PageTexts): Promise<string>;
  apply(
    db: Queryable,
    contactId: string,
    form: Record<string, unknown>,
    proof: { ip: string | null; userAgent: string | null },
  ): Promise<void>;
}

export interface ConsentRouterDeps extends IngestDeps {
  links: LinkSettings;
  /** CONSENT_EMAIL: what the email checkbox shows for a contact never asked. */
  consentEmail?: ConsentEmailPolicy;
  lists?: PreferenceListsHook;
  /** The shop's texts and DEFAULT_LOCALE (default: English). */
  texts?: Texts;
}

const proofOf = (req: Request) => ({ ip: req.ip ?? null, userAgent: req.get('user-agent')?.slice(0, 1000) ?? null });

export function consentRouter(deps: ConsentRouterDeps): Router {
  const router = Router();
  const texts = deps.texts ?? ENGLISH_ONLY;
  /** The pages speak the contact's language; without a contact (a bad link, an erased person) DEFAULT_LOCALE. */
  const textsFor = async (contactId?: string): Promise<PageTexts> => {
    const contact = contactId === undefined ? undefined : await getContact(deps.db, contactId);
    const lang = contactLanguage(texts, contact?.traits);
    return { lang, t: translator(texts, lang) };
  };
  // Opens and clicks while Postgres is unavailable: the pixel and the redirect answer anyway.
  const tracking = new PendingEngagement(deps);
  router.use('/u', express.urlencoded({ extended: false, limit: '4kb' }));

  router.get('/u/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    if (!claims)
      return void res
        .status(400)
        .type('html')
        .send(invalidLinkPage(await textsFor(), 'link.invalid_unsubscribe'));
    const message = await getMessage(deps.db, claims.m);
    const contact = message && (await getContact(deps.db, message.contactId));
    // The person was erased (or the message is gone): the address can still be unsubscribed.
    if (!contact) return void res.type('html').send(unsubscribePage(await textsFor()));
    const p = await textsFor(contact.id);
    const extra = deps.lists ? await deps.lists.section(deps.db, contact.id, p) : '';
    res
      .type('html')
      .send(
        preferencePage(
          p,
          req.params.token,
          await preferenceChannels(deps.db, contact.id, p),
          deps.consentEmail ?? 'opt_out',
          extra,
        ),
      );
  });

  /**
   * The preference form: only channels the page shows, and only what the person changed from what
   * the page showed, are applied. A channel the page does not show (no phone, no push subscription)
   * is ignored: a page shown before an address went away must still save the rest. A value the page
   * never offers (a checkbox is "on" or absent, a shown state "0" or "1", each once) cannot come
   * from our page: 400 naming the field, and nothing is changed.
   */
  router.post('/u/:token/preferences', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    const message = claims && (await getMessage(deps.db, claims.m));
    if (!claims || !message)
      return void res
        .status(400)
        .type('html')
        .send(invalidLinkPage(await textsFor(), 'link.invalid_preferences'));
    const p = await textsFor(message.contactId);
    const form = (req.body ?? {}) as Record<string, unknown>;
    const proof = proofOf(req);
    const shownNow = await preferenceChannels(deps.db, message.contactId, p);
    const read = channelChoices(
      form,
      shownNow.map((c) => c.channel),
    );
    if ('field' in read) {
      const body = `<p>${escapeHtml(p.t('preferences.invalid_form'))}</p><p><code>${escapeHtml(read.field)}</code></p>`;
      return void res
        .status(400)
        .type('html')
        .send(page(p.lang, p.t('preferences.invalid_form_title'), body));
    }
    const wanted = read.wanted;
    // An email opt-out from the page is an unsubscribe like the link's: same record, same event.
    if (wanted.get('email') === false && message.channel === 'email') {
      await unsubscribeEmail(deps, claims.m, 'preference_page', proof);
      wanted.delete('email');
    }
    const results: ConsentChangeResult[] = await inTransaction(deps.db, async (tx) => {
      const out: ConsentChangeResult[] = [];
      for (const [channel, on] of wanted) {
        out.push(
          await writeConsent(tx, {
            contactId: message.contactId,
            channel,
            status: on ? 'subscribed' : 'unsubscribed',
            source: 'preference_page',
            ...proof,
          }),
        );
      }
      return out;
    });
    for (const r of results) if (r.changed) await routeStored(deps, r.event, { inline: true });
    if (deps.lists) await deps.lists.apply(deps.db, message.contactId, form, proof);
    res.type('html').send(savedPage(p, await preferenceChannels(deps.db, message.contactId, p)));
  });

  // Idempotent: a second click (or the mail client's one-click POST after the footer link) changes nothing.
  router.post('/u/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    if (!claims)
      return void res
        .status(400)
        .type('html')
        .send(invalidLinkPage(await textsFor(), 'link.invalid_unsubscribe'));
    const via = req.body?.['List-Unsubscribe'] === 'One-Click' ? 'one-click' : 'link';
    await unsubscribeEmail(deps, claims.m, via, proofOf(req));
    const message = await getMessage(deps.db, claims.m);
    res
      .type('html')
      .send(messagePage(await textsFor(message?.contactId), 'unsubscribe_page.done_title', 'unsubscribe_page.done'));
  });

  // Always a 200 GIF, never cached: a bad token must not show a broken image.
  router.get('/t/o/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'open');
    if (claims)
      await tracking.record({
        message: claims.m,
        sourceEventId: `open:${claims.m}`,
        type: 'open',
        occurredAt: new Date().toISOString(),
        data: {},
      });
    res.set('Cache-Control', 'no-store, max-age=0').type('gif').send(PIXEL);
  });

  // Redirects only to the URL signed into the token at send time: no open redirect.
  router.get('/t/c/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'click');
    if (!claims?.u || !/^https?:\/\//.test(claims.u))
      return void res
        .status(400)
        .type('html')
        .send(invalidLinkPage(await textsFor()));
    await tracking.record({
      message: claims.m,
      sourceEventId: `click:${claims.m}:${claims.u}`,
      type: 'click',
      occurredAt: new Date().toISOString(),
      data: { url: claims.u },
    });
    res.redirect(302, claims.u);
  });

  // Double opt-in. GET only shows the button (scanners prefetch); POST confirms.
  router.get('/c/:token', async (req, res) => {
    const link = confirmLink(deps.links.secret, req.params.token);
    const p = await textsFor(link.contactId);
    if ('refused' in link)
      return void res
        .status(400)
        .type('html')
        .send(messagePage(p, ...link.refused));
    res.type('html').send(confirmPage(p, req.params.token));
  });

  router.post('/c/:token', async (req, res) => {
    const link = confirmLink(deps.links.secret, req.params.token);
    const p = await textsFor(link.contactId);
    if ('refused' in link)
      return void res
        .status(400)
        .type('html')
        .send(messagePage(p, ...link.refused));
    const { contactId } = link;
    const contact = await getContact(deps.db, contactId);
    const noLongerValid = () => messagePage(p, 'confirm_page.no_longer_valid_title', 'confirm_page.no_longer_valid');
    // The link confirms the address it was sent to: not another one the contact has since.
    if (!contact?.email || addressHash(contact.email) !== link.addressHash)
      return void res.status(400).type('html').send(noLongerValid());
    const proof = proofOf(req);
    const result = await inTransaction(deps.db, async (tx) => {
      const status = await consentStatusOf(tx, contactId, 'email');
      if (status !== 'pending') return status;
      return writeConsent(tx, { contactId, channel: 'email', status: 'subscribed', source: 'double_opt_in', ...proof });
    });
    if (typeof result === 'string') {
      if (result === 'subscribed')
        return void res.type('html').send(messagePage(p, 'confirm_page.done_title', 'confirm_page.already'));
      return void res.status(400).type('html').send(noLongerValid());
    }
    // A flow triggered on the change starts now rather than at the router loop's next pass.
    if (result.changed) await routeStored(deps, result.event, { inline: true });
    res.type('html').send(messagePage(p, 'confirm_page.done_title', 'confirm_page.done'));
  });

  return router;
}

/**
 * What a confirm link stands for, or the 400 page's title and text when it is forged, for another
 * purpose, or expired (an expired link still names its contact: the page speaks its language).
 */
function confirmLink(
  secret: string,
  token: string,
): { contactId: string; addressHash: string } | { refused: [TextKey, TextKey]; contactId?: string } {
  const claims = verifyLink(secret, token, 'confirm');
  if (!claims || typeof claims.c !== 'string' || typeof claims.a !== 'string')
    return { refused: ['link.invalid_title', 'link.invalid_confirm'] };
  if (linkExpired(claims))
    return { refused: ['confirm_page.expired_title', 'confirm_page.expired'], contactId: claims.c };
  return { contactId: claims.c, addressHash: claims.a };
}

/**
 * The channel changes a preference form asks for, among the channels the page shows, or the first
 * field holding a value the page never offers.
 */
function channelChoices(
  form: Record<string, unknown>,
  shown: ConsentChannel[],
): { wanted: Map<ConsentChannel, boolean> } | { field: string } {
  for (const channel of CONSENT_CHANNELS) {
    const box = form[channel];
    if (box !== undefined && box !== 'on') return { field: channel };
    const state = form[`shown_${channel}`];
    if (state !== undefined && state !== '0' && state !== '1') return { field: `shown_${channel}` };
  }
  const wanted = new Map<ConsentChannel, boolean>();
  for (const channel of shown) {
    const state = form[`shown_${channel}`];
    // A page without this channel's row (an older page) leaves it as it is.
    if (state === undefined) continue;
    const on = form[channel] === 'on';
    if (on !== (state === '1')) wanted.set(channel, on);
  }
  return { wanted };
}

/**
 * The unsubscribe engagement (stored once per message: message_events, the Unsubscribed event,
 * the suppression, consent), then the consent itself: after a resubscribe the engagement is a
 * duplicate, and the person's new decision must still count.
 */
async function unsubscribeEmail(
  deps: ConsentRouterDeps,
  messageId: string,
  via: string,
  proof: { ip: string | null; userAgent: string | null },
): Promise<void> {
  await recordEngagement(deps, {
    message: messageId,
    source: 'unsubscribe',
    sourceEventId: messageId,
    type: 'unsubscribe',
    occurredAt: new Date().toISOString(),
    data: { via, ...proofData(proof) },
  });
  const message = await getMessage(deps.db, messageId);
  if (message?.channel !== 'email') return;
  const source = via === 'preference_page' ? 'preference_page' : 'unsubscribe_link';
  const result = await inTransaction(deps.db, (tx) =>
    writeConsent(tx, { contactId: message.contactId, channel: 'email', status: 'unsubscribed', source, ...proof }),
  );
  if (result.changed) await routeStored(deps, result.event, { inline: true });
}

function proofData(proof: { ip: string | null; userAgent: string | null }): Record<string, string> {
  return { ...(proof.ip ? { ip: proof.ip } : {}), ...(proof.userAgent ? { user_agent: proof.userAgent } : {}) };
}

/** The channels the contact can be reached on (and any with a recorded decision), with their consent. */
async function preferenceChannels(db: Queryable, contactId: string, p: PageTexts): Promise<PreferenceChannel[]> {
  const [contact, consent, subscriptions] = await Promise.all([
    getContact(db, contactId),
    consentOf(db, contactId),
    pushSubscriptionsOf(db, contactId),
  ]);
  const out: PreferenceChannel[] = [];
  if (contact?.email) out.push({ channel: 'email', label: maskEmail(contact.email), consent: consent.email });
  if (contact?.phone) out.push({ channel: 'sms', label: maskPhone(contact.phone), consent: consent.sms });
  if (subscriptions.length > 0 || consent.push.status !== 'never_asked')
    out.push({ channel: 'push', label: p.t('preferences.this_device'), consent: consent.push });
  return out;
}
