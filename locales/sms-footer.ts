/**
 * The opt-out wording a marketing SMS carries (in France, "STOP au 36111" or the shop's own short
 * number): the shop's text `sms.marketing_footer` in the contact's language, appended on a new line
 * unless the body already ends with it. None shipped: the number is the shop's. Never on
 * transactional messages (callers decide). Pure.
 */
import { contactLanguage, textOf, type Texts } from './texts';

export function withMarketingFooter(body: string, texts: Texts, traits: Record<string, unknown> | undefined): string {
  const footer = textOf(texts, contactLanguage(texts, traits), 'sms.marketing_footer').trim();
  if (!footer || body.trimEnd().endsWith(footer)) return body;
  return `${body.trimEnd()}\n${footer}`;
}
