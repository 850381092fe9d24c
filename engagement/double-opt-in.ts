/**
 * Double opt-in: the confirmation email sent when a contact's email consent becomes `pending`,
 * with a signed, expiring link to the public confirm page (api/consent/router.ts).
 *
 * It goes through the pieces of the journey send path (a message row keyed once per consent
 * change, claimed before the provider call, the provider's answer recorded on it) and the same
 * email provider the activities use (SendGrid, or the outbox), as a transactional message: it
 * shows in `GET /v1/contacts/:id/messages` and the outbox like any other.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EmailProvider } from '../activities/providers/types';
import { ProviderError } from '../activities/providers/types';
import { DEFAULT_LEASE_MS, handOver, underClaim } from '../activities/send-claim';
import { DEFAULT_FLOW_PRIORITY } from '../audiences/frequency-cap';
import type { LinkSettings } from '../sending/links';
import { signLink } from '../sending/tokens';
import {
  claimMessage,
  finishAttempt,
  findStepMessage,
  isSuppressed,
  recordSkipped,
  type MessageKey,
} from '../db/messages';
import type { Queryable } from '../db/pool';
import { escapeHtml } from '../locales/texts';
import { contactLanguage, ENGLISH_ONLY, senderOf, translator, type Texts, type Translate } from '../locales/texts';

/** How long a confirmation link works. */
export const CONFIRM_LINK_TTL_MS = 7 * 86_400_000;

/** What the API needs to send confirmations (the lead wires it from stack/providers.ts). */
export interface ConfirmationSender {
  email: EmailProvider;
  from: string;
  links: LinkSettings;
  /** The shop's texts and DEFAULT_LOCALE (default: English). */
  texts?: Texts;
}

export type ConfirmationOutcome = {
  messageId: string;
  status: 'sent' | 'skipped' | 'failed' | 'retrying';
  reason?: string;
};

/** The confirmation email in the contact's language (sending/locales, the shop's overrides). */
const content = (t: Translate, link: string) => ({
  subject: t('confirm_email.subject'),
  html:
    `<p>${escapeHtml(t('confirm_email.intro'))}</p>` +
    `<p><a href="${escapeHtml(link)}">${escapeHtml(t('confirm_email.button'))}</a></p>` +
    `<p style="font-size:12px;color:#888">${escapeHtml(t('confirm_email.ignore'))}</p>`,
});

/** What a confirm link carries of the address: the link confirms that address only. */
export function addressHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase()).digest('base64url').slice(0, 22);
}

/**
 * The link of one pending request: it names the request (its event), the contact and the
 * address, so it is known before the message row exists and the stored content (the outbox in
 * development) holds the real link.
 */
export function confirmUrl(
  links: LinkSettings,
  req: { consentEventId: number; contactId: string; to: string },
  nowMs = Date.now(),
): string {
  const token = signLink(links.secret, {
    p: 'confirm',
    m: String(req.consentEventId),
    c: req.contactId,
    a: addressHash(req.to),
    x: Math.floor((nowMs + CONFIRM_LINK_TTL_MS) / 1000),
  });
  return `${links.publicUrl}/c/${token}`;
}

/**
 * Sends the confirmation for one `pending` change (its Consent Changed event id): the same
 * change never sends twice, a new request (a new change) sends a new one.
 */
export async function sendConfirmation(
  db: Queryable,
  sender: ConfirmationSender,
  req: { contactId: string; to: string; consentEventId: number; traits?: Record<string, unknown> },
): Promise<ConfirmationOutcome> {
  const key: MessageKey = {
    sendKey: `double-opt-in:${req.contactId}|${req.consentEventId}|confirm-email`,
    journeyRunId: `double-opt-in:${req.consentEventId}`,
    flowId: null,
    flowVersion: null,
    stepId: 'confirm-email',
    contactId: req.contactId,
    channel: 'email',
    transactional: true,
    source: 'confirmation',
    priority: DEFAULT_FLOW_PRIORITY,
  };
  const previous = await findStepMessage(db, key);
  if (previous && previous.status !== 'retrying' && previous.status !== 'failed')
    return {
      messageId: previous.id,
      status: previous.status === 'sent' ? 'sent' : 'skipped',
      reason: previous.reason ?? undefined,
    };
  // Transactional: only suppressions of scope "all" (hard bounce) apply.
  if (await isSuppressed(db, 'email', req.to, true)) {
    const skipped = await recordSkipped(db, key, req.to, 'address is suppressed');
    return { messageId: skipped.id, status: 'skipped', reason: 'address is suppressed' };
  }

  const owner = randomUUID();
  const texts = sender.texts ?? ENGLISH_ONLY;
  const t = translator(texts, contactLanguage(texts, req.traits));
  const confirmation = content(t, confirmUrl(sender.links, req));
  const message = await claimMessage(db, key, {
    recipient: req.to,
    provider: sender.email.name,
    content: confirmation,
    owner,
    leaseMs: DEFAULT_LEASE_MS,
    takeOver: false,
  });
  if (!message) return { messageId: previous?.id ?? '', status: 'skipped', reason: 'being sent by another request' };
  // Lost between the claim and here (a stall past the lease): the request that took it sends it.
  const lost = await handOver(db, message, owner).then(
    () => false,
    () => true,
  );
  if (lost) return { messageId: message.id, status: 'skipped', reason: 'being sent by another request' };
  try {
    const result = await underClaim(db, message, owner, DEFAULT_LEASE_MS, () =>
      sender.email.send({
        to: req.to,
        from: senderOf(t, sender.from),
        ...confirmation,
        customArgs: {
          parcours_message_id: message.id,
          parcours_flow_id: 'double-opt-in',
          parcours_step_id: key.stepId,
        },
      }),
    );
    await finishAttempt(db, message.id, {
      status: 'sent',
      providerMessageId: result.providerMessageId,
      sentAt: new Date(),
      owner,
    });
    return { messageId: message.id, status: 'sent' };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    // No worker retries this: the row says what happened and a new PUT of "pending" sends again.
    const status = err instanceof ProviderError && err.retryable ? 'retrying' : 'failed';
    await finishAttempt(db, message.id, { status, reason, owner });
    return { messageId: message.id, status, reason };
  }
}
