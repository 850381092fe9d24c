/**
 * A contact's consent, for the shop's back office (API key): read it with its provable history,
 * and record a change (`pending` on email starts double opt-in: a confirmation email goes out).
 * Mounted under /v1/contacts.
 */
import { Router } from 'express';
import { z } from 'zod';
import { consentChannel, consentStatus, type ConsentEmailPolicy } from '../../audiences/consent-policy';
import { sendConfirmation, type ConfirmationOutcome, type ConfirmationSender } from '../../engagement/double-opt-in';
import { consentHistory, consentOf, lastConsentEventId, writeConsent } from '../../db/consent';
import { canonicalContactId } from '../../db/contact-merge';
import { getContact } from '../../db/contacts';
import { inTransaction } from '../../db/pool';
import { routeStored, type RouterDeps, type RoutingOutcome } from '../../routing/router';
import { HttpError, invalid, notFound } from '../errors';
import { parseOr400, storableParam } from '../validate';

const consentChangeBody = z.strictObject({
  status: consentStatus,
  /** Where the consent was given or withdrawn: "checkout", "signup_form", "support"… (kept as proof). */
  source: z.string().min(1).max(100),
  ip: z.string().min(1).max(100).optional(),
  userAgent: z.string().min(1).max(1000).optional(),
});

export interface ContactConsentDeps extends RouterDeps {
  /** Without it, `pending` on email is refused (503): nothing could send the confirmation. */
  confirmations?: ConfirmationSender;
  consentEmail?: ConsentEmailPolicy;
}

export function contactConsentRouter(deps: ContactConsentDeps): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/:id/consent', async (req, res) => {
    // A merged-away id (an anonymous visitor who logged in) reads the contact it became.
    const contact = await getContact(deps.db, await canonicalContactId(deps.db, req.params.id));
    if (!contact) throw notFound(`contact "${req.params.id}"`);
    res.json({
      contactId: contact.id,
      emailPolicy: deps.consentEmail ?? 'opt_out',
      channels: await consentOf(deps.db, contact.id),
      history: await consentHistory(deps.db, contact.id),
    });
  });

  router.put('/:id/consent/:channel', async (req, res) => {
    const channel = consentChannel.safeParse(req.params.channel);
    if (!channel.success)
      throw invalid(
        [{ path: ['params', 'channel'], message: 'channel must be one of email, sms, push' }],
        'URL parameter channel is invalid',
      );
    const body = parseOr400(consentChangeBody, req.body);
    const contactId = await canonicalContactId(deps.db, req.params.id);
    const doubleOptIn = channel.data === 'email' && body.status === 'pending';
    if (doubleOptIn) {
      if (!deps.confirmations)
        throw new HttpError(
          503,
          'unavailable',
          'double opt-in is not configured: no email provider to send the confirmation',
        );
      const contact = await getContact(deps.db, contactId);
      if (!contact?.email)
        throw invalid([
          {
            path: ['status'],
            message: 'double opt-in needs the contact\'s email address: identify it with an "email" trait first',
          },
        ]);
    }

    const result = await inTransaction(deps.db, (tx) =>
      writeConsent(tx, {
        contactId,
        channel: channel.data,
        status: body.status,
        source: body.source,
        ip: body.ip ?? null,
        userAgent: body.userAgent ?? null,
      }),
    );
    let routing: RoutingOutcome | undefined;
    if (result.changed) routing = await routeStored(deps, result.event, { inline: true });

    let confirmation: ConfirmationOutcome | undefined;
    if (doubleOptIn && deps.confirmations && result.status === 'pending') {
      // A repeated "pending" (no change) resends only a confirmation that did not go out.
      const eventId = result.changed ? result.event.id : await lastConsentEventId(deps.db, contactId, 'email');
      const contact = await getContact(deps.db, contactId);
      if (eventId !== undefined && contact?.email)
        confirmation = await sendConfirmation(deps.db, deps.confirmations, {
          contactId,
          to: contact.email,
          consentEventId: eventId,
          // The email speaks the contact's language (its `locale` trait, else DEFAULT_LOCALE).
          traits: contact.traits,
        });
    }
    res.json({
      contactId,
      channel: channel.data,
      status: result.status,
      changed: result.changed,
      ...(result.changed ? { previous: result.previous, eventId: result.event.id, routing: routing?.routing } : {}),
      ...(confirmation ? { confirmation } : {}),
    });
  });

  return router;
}
