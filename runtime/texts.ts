/** The deployment's texts: DEFAULT_LOCALE and the shop's MESSAGES_FILE, read once at start. */
import { readFileSync } from 'node:fs';
import { parseTextOverrides, textsOf, type Texts } from '../locales/texts';
import type { Env } from './env';

export function textsFromEnv(env: Pick<Env, 'DEFAULT_LOCALE' | 'MESSAGES_FILE'>): Texts {
  if (!env.MESSAGES_FILE) return textsOf(env.DEFAULT_LOCALE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(env.MESSAGES_FILE, 'utf8'));
  } catch (err) {
    throw new Error(`MESSAGES_FILE: cannot read ${env.MESSAGES_FILE} as JSON (${(err as Error).message})`);
  }
  return textsOf(env.DEFAULT_LOCALE, parseTextOverrides(json));
}
