/**
 * The HTML of the public consent pages (no login; reached from links in messages), in the
 * contact's language (sending/texts.ts: the message files and the shop's overrides). Everything
 * that comes from data or from the texts is escaped; addresses are shown masked, since a forwarded
 * email carries the link.
 */
import type { ConsentChannel, ConsentEmailPolicy } from '../../audiences/consent-policy';
import type { ChannelConsent } from '../../db/consent';
import { escapeHtml } from '../../locales/texts';
import type { Translate } from '../../locales/texts';

export { escapeHtml };

/** A page in one language: `lang` is its `<html lang>` (screen readers, browsers' translation offer). */
export const page = (lang: string, title: string, body: string) =>
  `<!doctype html><html lang="${escapeHtml(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">${body}</body></html>`;

/** The words of one page, bound to its language. */
export interface PageTexts {
  lang: string;
  t: Translate;
}

/** A page of one paragraph: a text already in the page's language. */
export const messagePage = ({ lang, t }: PageTexts, title: Parameters<Translate>[0], text: Parameters<Translate>[0]) =>
  page(lang, t(title), `<p>${escapeHtml(t(text))}</p>`);

export const invalidLinkPage = (p: PageTexts, what: Parameters<Translate>[0] = 'link.invalid') =>
  messagePage(p, 'link.invalid_title', what);

export function maskEmail(email: string): string {
  const [user, domain] = email.split('@');
  return domain ? `${user.slice(0, 1)}***@${domain}` : '***';
}

export function maskPhone(phone: string): string {
  return `***${phone.slice(-2)}`;
}

export interface PreferenceChannel {
  channel: ConsentChannel;
  /** Masked address (or "this device" for push, in the page's language). */
  label: string;
  consent: ChannelConsent;
}

export const CHANNEL_TITLE = {
  email: 'preferences.channel_email',
  sms: 'preferences.channel_sms',
  push: 'preferences.channel_push',
} as const satisfies Record<ConsentChannel, Parameters<Translate>[0]>;

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
  p: PageTexts,
  token: string,
  channels: PreferenceChannel[],
  emailPolicy: ConsentEmailPolicy,
  extra: string,
): string {
  const { t } = p;
  const tok = escapeHtml(token);
  const rows = channels
    .map(({ channel, label, consent }) => {
      const on = receivesMarketing(channel, consent, emailPolicy);
      return (
        `<p><label><input type="checkbox" name="${channel}" value="on"${on ? ' checked' : ''}> ${escapeHtml(t(CHANNEL_TITLE[channel]))} <small>(${escapeHtml(label)})</small></label>` +
        `<input type="hidden" name="shown_${channel}" value="${on ? '1' : '0'}"></p>`
      );
    })
    .join('');
  return page(
    p.lang,
    t('preferences.title'),
    `<h1>${escapeHtml(t('preferences.title'))}</h1><form method="post" action="${tok}/preferences">${rows}${extra}<button type="submit">${escapeHtml(t('preferences.save'))}</button></form>` +
      `<hr><form method="post"><p>${escapeHtml(t('preferences.or_unsubscribe'))}</p><button type="submit" name="List-Unsubscribe" value="One-Click">${escapeHtml(t('unsubscribe_page.button'))}</button></form>`,
  );
}

/** The page of an unsubscribe link whose contact is gone (erased): the address can still be unsubscribed. */
export const unsubscribePage = ({ lang, t }: PageTexts) =>
  page(
    lang,
    t('unsubscribe_page.title'),
    `<form method="post"><p>${escapeHtml(t('unsubscribe_page.question'))}</p><button type="submit" name="List-Unsubscribe" value="One-Click">${escapeHtml(t('unsubscribe_page.button'))}</button></form>`,
  );

/** After saving: each channel shown, with its status in words. */
export function savedPage({ lang, t }: PageTexts, channels: PreferenceChannel[]): string {
  const summary = channels
    .map(
      (c) =>
        `<li>${escapeHtml(t('preferences.channel_status', { channel: t(CHANNEL_TITLE[c.channel]), status: t(`preferences.status_${c.consent.status}`) }))}</li>`,
    )
    .join('');
  return page(lang, t('preferences.saved_title'), `<p>${escapeHtml(t('preferences.saved'))}</p><ul>${summary}</ul>`);
}

export const confirmPage = ({ lang, t }: PageTexts, token: string) =>
  page(
    lang,
    t('confirm_page.title'),
    `<form method="post" action="${escapeHtml(token)}"><p>${escapeHtml(t('confirm_page.question'))}</p><button type="submit">${escapeHtml(t('confirm_page.button'))}</button></form>`,
  );
