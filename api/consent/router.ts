/**
 * Public routes behind the links in our messages, no login: the preference page behind the
 * unsubscribe link (channels, and lists once wired) with RFC 8058 one-click POST kept as it
 * was, the double opt-in confirm page, the open pixel and click redirects. GETs only show pages,
 * since link scanners prefetch them; POSTs change things. Tokens are signed (engagement/tokens.ts).
 */
import express, { Router, type Request } from 'express';
import { CONSENT_CHANNELS, type ConsentChannel, type ConsentEmailPolicy } from '../../audiences/consent-policy';
import { consentOf, consentStatusOf, writeConsent, type ConsentChangeResult } from '../../db/consent';
import { getContact } from '../../db/contacts';
import { getMessage } from '../../db/messages';
import { inTransaction, type Queryable } from '../../db/pool';
import { pushSubscriptionsOf } from '../../db/push-subscriptions';
import { linkExpired, verifyLink } from '../../engagement/tokens';
import { recordEngagement } from '../../engagement/record';
import type { LinkSettings } from '../../engagement/links';
import { routeStored } from '../../routing/router';
import { addressHash } from '../../audiences/double-opt-in';
import type { IngestDeps } from '../events/ingest';
import {
  confirmPage,
  escapeHtml,
  invalidLinkPage,
  maskEmail,
  maskPhone,
  page,
  preferencePage,
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
  section(db: Queryable, contactId: string): Promise<string>;
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
}

const proofOf = (req: Request) => ({ ip: req.ip ?? null, userAgent: req.get('user-agent')?.slice(0, 1000) ?? null });

export function consentRouter(deps: ConsentRouterDeps): Router {
  const router = Router();
  router.use('/u', express.urlencoded({ extended: false, limit: '4kb' }));

  router.get('/u/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    if (!claims) return void res.status(400).type('html').send(invalidLinkPage('This unsubscribe link'));
    const message = await getMessage(deps.db, claims.m);
    const contact = message && (await getContact(deps.db, message.contactId));
    if (!contact) {
      // The person was erased (or the message is gone): the address can still be unsubscribed.
      return void res
        .type('html')
        .send(
          page(
            'Unsubscribe',
            `<form method="post"><p>Stop receiving marketing emails at this address?</p><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
          ),
        );
    }
    const extra = deps.lists ? await deps.lists.section(deps.db, contact.id) : '';
    res
      .type('html')
      .send(
        preferencePage(
          req.params.token,
          await preferenceChannels(deps.db, contact.id),
          deps.consentEmail ?? 'opt_out',
          extra,
        ),
      );
  });

  /** The preference form: only what the person changed from what the page showed is applied. */
  router.post('/u/:token/preferences', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    const message = claims && (await getMessage(deps.db, claims.m));
    if (!claims || !message) return void res.status(400).type('html').send(invalidLinkPage('This preferences link'));
    const form = (req.body ?? {}) as Record<string, unknown>;
    const proof = proofOf(req);
    const wanted = new Map<ConsentChannel, boolean>();
    for (const channel of CONSENT_CHANNELS) {
      const shown = form[`shown_${channel}`];
      if (shown !== '0' && shown !== '1') continue;
      const on = form[channel] === 'on';
      if (on !== (shown === '1')) wanted.set(channel, on);
    }
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
    const summary = (await preferenceChannels(deps.db, message.contactId))
      .map((c) => `<li>${c.channel}: ${escapeHtml(c.consent.status.replace('_', ' '))}</li>`)
      .join('');
    res.type('html').send(page('Preferences saved', `<p>Your preferences are saved.</p><ul>${summary}</ul>`));
  });

  // Idempotent: a second click (or the mail client's one-click POST after the footer link) changes nothing.
  router.post('/u/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'unsubscribe');
    if (!claims) return void res.status(400).type('html').send(invalidLinkPage('This unsubscribe link'));
    const via = req.body?.['List-Unsubscribe'] === 'One-Click' ? 'one-click' : 'link';
    await unsubscribeEmail(deps, claims.m, via, proofOf(req));
    res
      .type('html')
      .send(
        page('Unsubscribed', '<p>You are unsubscribed: no more marketing emails will be sent to this address.</p>'),
      );
  });

  // Always a 200 GIF, never cached: a bad token must not show a broken image.
  router.get('/t/o/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'open');
    if (claims)
      await recordEngagement(deps, {
        message: claims.m,
        source: 'tracking',
        sourceEventId: `open:${claims.m}`,
        type: 'open',
        occurredAt: new Date().toISOString(),
        data: {},
      }).catch(() => undefined);
    res.set('Cache-Control', 'no-store, max-age=0').type('gif').send(PIXEL);
  });

  // Redirects only to the URL signed into the token at send time: no open redirect.
  router.get('/t/c/:token', async (req, res) => {
    const claims = verifyLink(deps.links.secret, req.params.token, 'click');
    if (!claims?.u || !/^https?:\/\//.test(claims.u)) return void res.status(400).type('html').send(invalidLinkPage());
    await recordEngagement(deps, {
      message: claims.m,
      source: 'tracking',
      sourceEventId: `click:${claims.m}:${claims.u}`,
      type: 'click',
      occurredAt: new Date().toISOString(),
      data: { url: claims.u },
    }).catch(() => undefined);
    res.redirect(302, claims.u);
  });

  // Double opt-in. GET only shows the button (scanners prefetch); POST confirms.
  router.get('/c/:token', (req, res) => {
    const link = confirmLink(deps.links.secret, req.params.token);
    if ('refused' in link) return void res.status(400).type('html').send(link.refused);
    res.type('html').send(confirmPage(req.params.token));
  });

  router.post('/c/:token', async (req, res) => {
    const link = confirmLink(deps.links.secret, req.params.token);
    if ('refused' in link) return void res.status(400).type('html').send(link.refused);
    const { contactId } = link;
    const contact = await getContact(deps.db, contactId);
    // The link confirms the address it was sent to: not another one the contact has since.
    if (!contact?.email || addressHash(contact.email) !== link.addressHash) {
      return void res
        .status(400)
        .type('html')
        .send(page('Link no longer valid', '<p>This confirmation link is no longer valid.</p>'));
    }
    const proof = proofOf(req);
    const result = await inTransaction(deps.db, async (tx) => {
      const status = await consentStatusOf(tx, contactId, 'email');
      if (status !== 'pending') return status;
      return writeConsent(tx, { contactId, channel: 'email', status: 'subscribed', source: 'double_opt_in', ...proof });
    });
    if (typeof result === 'string') {
      if (result === 'subscribed')
        return void res.type('html').send(page('Subscribed', '<p>Your subscription is already confirmed.</p>'));
      return void res
        .status(400)
        .type('html')
        .send(page('Link no longer valid', '<p>This confirmation link is no longer valid.</p>'));
    }
    // A flow triggered on the change starts now rather than at the router loop's next pass.
    if (result.changed) await routeStored(deps, result.event, { inline: true });
    res.type('html').send(page('Subscribed', '<p>Thank you: your subscription is confirmed.</p>'));
  });

  return router;
}

/** What a confirm link stands for, or the 400 page when it is forged, for another purpose, or expired. */
function confirmLink(secret: string, token: string): { contactId: string; addressHash: string } | { refused: string } {
  const claims = verifyLink(secret, token, 'confirm');
  if (!claims || typeof claims.c !== 'string' || typeof claims.a !== 'string')
    return { refused: invalidLinkPage('This confirmation link') };
  if (linkExpired(claims))
    return {
      refused: page('Link expired', '<p>This confirmation link has expired. Sign up again to get a new one.</p>'),
    };
  return { contactId: claims.c, addressHash: claims.a };
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
async function preferenceChannels(db: Queryable, contactId: string): Promise<PreferenceChannel[]> {
  const [contact, consent, subscriptions] = await Promise.all([
    getContact(db, contactId),
    consentOf(db, contactId),
    pushSubscriptionsOf(db, contactId),
  ]);
  const out: PreferenceChannel[] = [];
  if (contact?.email) out.push({ channel: 'email', label: maskEmail(contact.email), consent: consent.email });
  if (contact?.phone) out.push({ channel: 'sms', label: maskPhone(contact.phone), consent: consent.sms });
  if (subscriptions.length > 0 || consent.push.status !== 'never_asked')
    out.push({ channel: 'push', label: 'this device', consent: consent.push });
  return out;
}
