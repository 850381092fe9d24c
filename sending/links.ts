/**
 * What a marketing email carries for consent and tracking, added at send time:
 * RFC 8058 one-click unsubscribe headers and a footer link, and, when the flow asks for it,
 * click-tracking redirects and an open pixel.
 */
import { signLink } from './tokens';

export interface LinkSettings {
  /** Where our public routes (/u, /t) are reachable. */
  publicUrl: string;
  secret: string;
}

export function unsubscribeUrl(settings: LinkSettings, messageId: string): string {
  return `${settings.publicUrl}/u/${signLink(settings.secret, { p: 'unsubscribe', m: messageId })}`;
}

export function listUnsubscribeHeaders(settings: LinkSettings, messageId: string): Record<string, string> {
  return {
    'List-Unsubscribe': `<${unsubscribeUrl(settings, messageId)}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

/** Every absolute http(s) link becomes a signed redirect to the same URL. */
export function trackClicks(html: string, settings: LinkSettings, messageId: string): string {
  return html.replace(
    /(href\s*=\s*["'])(https?:\/\/[^"']+)(["'])/gi,
    (_all, open: string, url: string, close: string) => {
      const target = url.replace(/&amp;/g, '&');
      const token = signLink(settings.secret, { p: 'click', m: messageId, u: target });
      return `${open}${settings.publicUrl}/t/c/${token}${close}`;
    },
  );
}

export function openPixel(settings: LinkSettings, messageId: string): string {
  const token = signLink(settings.secret, { p: 'open', m: messageId });
  return `<img src="${settings.publicUrl}/t/o/${token}" width="1" height="1" alt="" style="display:none">`;
}

/** Appends before </body> when there is one, else at the end. */
export function appendToHtml(html: string, fragment: string): string {
  const at = html.search(/<\/body>/i);
  return at === -1 ? `${html}${fragment}` : `${html.slice(0, at)}${fragment}${html.slice(at)}`;
}
