/**
 * The HTML of the public consent pages (no login; reached from links in messages). Everything
 * that comes from data is escaped; addresses are shown masked, since a forwarded email carries
 * the link.
 */
import type { ConsentChannel, ConsentEmailPolicy } from '../../audiences/consent-policy';
import type { ChannelConsent } from '../../db/consent';

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

export const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">${body}</body></html>`;

export const invalidLinkPage = (what = 'This link') => page('Invalid link', `<p>${escapeHtml(what)} is not valid.</p>`);

export function maskEmail(email: string): string {
  const [user, domain] = email.split('@');
  return domain ? `${user.slice(0, 1)}***@${domain}` : '***';
}

export function maskPhone(phone: string): string {
  return `***${phone.slice(-2)}`;
}

export interface PreferenceChannel {
  channel: ConsentChannel;
  /** Masked address (or "this browser" for push). */
  label: string;
  consent: ChannelConsent;
}

const CHANNEL_TITLE: Record<ConsentChannel, string> = {
  email: 'Marketing emails',
  sms: 'Marketing text messages (SMS)',
  push: 'Push notifications',
};

/** Whether the channel gets marketing now: what its checkbox shows. */
export function receivesMarketing(
  channel: ConsentChannel,
  c: ChannelConsent,
  emailPolicy: ConsentEmailPolicy,
): boolean {
  if (c.status === 'subscribed') return true;
  return channel === 'email' && emailPolicy === 'opt_out' && c.status !== 'unsubscribed';
}

/**
 * One checkbox per channel the contact can be reached on, with the state it showed (a hidden
 * field): saving applies only what the person changed. `extra` is where other sections (lists)
 * go. The one-click form below (no action: it posts to the page's own URL, /u/:token) keeps
 * the RFC 8058 POST working from the page too.
 */
export function preferencePage(
  token: string,
  channels: PreferenceChannel[],
  emailPolicy: ConsentEmailPolicy,
  extra: string,
): string {
  const t = escapeHtml(token);
  const rows = channels
    .map(({ channel, label, consent }) => {
      const on = receivesMarketing(channel, consent, emailPolicy);
      return (
        `<p><label><input type="checkbox" name="${channel}" value="on"${on ? ' checked' : ''}> ${CHANNEL_TITLE[channel]} <small>(${escapeHtml(label)})</small></label>` +
        `<input type="hidden" name="shown_${channel}" value="${on ? '1' : '0'}"></p>`
      );
    })
    .join('');
  return page(
    'Your preferences',
    `<h1>Your preferences</h1><form method="post" action="${t}/preferences">${rows}${extra}<button type="submit">Save my preferences</button></form>` +
      `<hr><form method="post"><p>Or stop every marketing email to this address:</p><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
  );
}

export const confirmPage = (token: string) =>
  page(
    'Confirm your subscription',
    `<form method="post" action="${escapeHtml(token)}"><p>Confirm that you want to receive our emails?</p><button type="submit">Confirm my subscription</button></form>`,
  );
