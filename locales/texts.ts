/**
 * The words Parcours itself puts in front of a person (the double opt-in email, the unsubscribe,
 * preference and confirm pages, the SMS keyword replies, the marketing SMS footer), in the
 * contact's language. Pure, and a leaf (it imports no other folder): the catalogs are the message files here (one per
 * language, English the reference every other falls back to), and a shop's overrides (any text,
 * any language, read at start from MESSAGES_FILE by stack/compose.ts).
 */
import { z } from 'zod';
import en from './en.json';
import fr from './fr.json';

export type TextKey = keyof typeof en;
export type Catalog = Record<TextKey, string>;

/**
 * The languages shipped. A new one is a JSON file here and a line below; typed as a full
 * catalog so a key missing from a shipped language fails the type check rather than showing English.
 */
const SHIPPED: Record<string, Catalog> = { en, fr: fr satisfies Catalog };

export const TEXT_KEYS = Object.keys(en) as TextKey[];

/** A shop's texts by language (`{"fr": {"email.sender_name": "Maison Dupont"}}`): any key, any language. */
export type TextOverrides = Record<string, Partial<Catalog>>;

export interface Texts {
  /** DEFAULT_LOCALE, as a language code (`fr`): for contacts without a `locale` trait. */
  defaultLocale: string;
  overrides: TextOverrides;
}

export const ENGLISH_ONLY: Texts = { defaultLocale: 'en', overrides: {} };

/**
 * The language of a locale value as shops and browsers write it: `fr-FR`, `fr_CA`, `FR`, ` fr `
 * are all `fr`. Undefined for anything that is not a language tag.
 */
export function languageOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\s*([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*\s*$/i.exec(value);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** Languages with texts: the shipped ones and any the shop added in its overrides. */
export function knownLanguage(texts: Texts, language: string | undefined): boolean {
  return language !== undefined && (language in SHIPPED || language in texts.overrides);
}

/**
 * The language to speak to a contact in: its `locale` trait when it names a language we have
 * texts for, else the shop's DEFAULT_LOCALE.
 */
export function contactLanguage(texts: Texts, traits: Record<string, unknown> | undefined): string {
  const own = languageOf(traits?.locale);
  return knownLanguage(texts, own) ? own! : texts.defaultLocale;
}

/**
 * One text: the shop's override in that language, the shipped text in that language, then the
 * same in English. `{name}` placeholders are replaced by `vars` (plain text: callers escape for HTML).
 */
export function textOf(texts: Texts, language: string, key: TextKey, vars: Record<string, string> = {}): string {
  const found =
    texts.overrides[language]?.[key] ?? SHIPPED[language]?.[key] ?? texts.overrides.en?.[key] ?? SHIPPED.en![key];
  return found.replace(/\{(\w+)\}/g, (all, name: string) => vars[name] ?? all);
}

/** A lookup bound to one language: what pages and messages call. */
export type Translate = (key: TextKey, vars?: Record<string, string>) => string;

export function translator(texts: Texts, language: string): Translate {
  return (key, vars) => textOf(texts, language, key, vars);
}

/** `Name <address>` when the shop set a sender name for the language, else the address alone. */
export function senderOf(t: Translate, address: string): string {
  const name = t('email.sender_name')
    .replace(/[<>"\r\n]/g, '')
    .trim();
  return name ? `${name} <${address}>` : address;
}

const overridesFile = z.record(
  z.string().refine((code) => languageOf(code) === code, 'a language code in lower case ("fr", "de")'),
  z.strictObject(Object.fromEntries(TEXT_KEYS.map((k) => [k, z.string().max(2_000).optional()]))),
);

/**
 * A shop's overrides file (MESSAGES_FILE) checked: a misspelt key or language is an error naming
 * it, at start, rather than a text silently left in English.
 */
export function parseTextOverrides(json: unknown): TextOverrides {
  const parsed = overridesFile.safeParse(json);
  if (parsed.success) return parsed.data as TextOverrides;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');
  throw new Error(`MESSAGES_FILE: ${problems}`);
}

/** The texts of a deployment, DEFAULT_LOCALE checked against the languages there are texts for. */
export function textsOf(defaultLocale: string | undefined, overrides: TextOverrides = {}): Texts {
  const language = defaultLocale === undefined ? 'en' : languageOf(defaultLocale);
  const texts: Texts = { defaultLocale: language ?? 'en', overrides };
  if (!language || !knownLanguage(texts, language))
    throw new Error(
      `DEFAULT_LOCALE: no texts for "${defaultLocale}" (shipped: ${Object.keys(SHIPPED).join(', ')}; ` +
        'add a language in MESSAGES_FILE)',
    );
  return texts;
}

/** Text into HTML: every text (a shop's override included) and value the pages and emails show goes through it. */
export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}
