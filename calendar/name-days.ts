/**
 * French name days ("fêtes à souhaiter"): the calendar shipped in data/fetes-fr.json, one date
 * per name with the usual variants (Étienne, Stéphane, Stéphanie, Stephan… on 26 December).
 *
 * Matching rule: names compare without accents, case and surrounding spaces ("Stéphane" =
 * "stephane" = "STEPHANE"). A compound first name ("Jean-Pierre", "Marie Claire") is wished on
 * the day of the whole compound when the calendar lists it ("Jean-Marie": 4 August), else on
 * the day of its first part ("Jean-Pierre": Jean, 24 June).
 */
import data from './data/fetes-fr.json';

/** 'Stéphane ' → 'stephane'; separators in compounds become one '-'. */
export function nameKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .trim()
    .replace(/[\s-]+/g, '-');
}

const DAY_OF = new Map<string, string>();
for (const [day, names] of Object.entries(data.days)) for (const name of names) DAY_OF.set(nameKey(name), day);

/** The calendar key a first name is wished under (the compound rule above), if any. */
export function nameDayKey(firstName: string): string | undefined {
  const key = nameKey(firstName);
  if (!key) return undefined;
  if (DAY_OF.has(key)) return key;
  const head = key.split('-')[0];
  return DAY_OF.has(head) ? head : undefined;
}

/** The name day of a first name, as 'MM-DD'; undefined when the calendar does not list it. */
export function nameDay(firstName: string): string | undefined {
  const key = nameDayKey(firstName);
  return key === undefined ? undefined : DAY_OF.get(key);
}

/** The names (keys) wished on a day 'MM-DD'. */
export function namesOn(monthDay: string): string[] {
  return ((data.days as Record<string, string[]>)[monthDay] ?? []).map(nameKey);
}

/** Every listed name key (for tests and the API). */
export function listedNames(): string[] {
  return [...DAY_OF.keys()];
}
