/**
 * Durations in flows are written for people: "1 hour", "24 hours", "90s", "2 days", "1 week".
 * Pure code: imported by the workflow sandbox as well as the API.
 */
const UNIT_MS: Record<string, number> = {
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)\s*([a-z]+?)s?$/;

export const MIN_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 366 * UNIT_MS.day;

export type DurationUnit = 'second' | 'minute' | 'hour' | 'day' | 'week';
const UNIT_NAME: Record<number, DurationUnit> = {
  1000: 'second',
  60000: 'minute',
  3600000: 'hour',
  86400000: 'day',
  604800000: 'week',
};

/** "3 days" as { amount: 3, unit: 'day' }: days and weeks are calendar units where it matters (delay_until offsets). */
export function durationParts(text: string): { amount: number; unit: DurationUnit } | undefined {
  const match = DURATION.exec(text.trim().toLowerCase());
  const unit = match ? UNIT_MS[match[2]] : undefined;
  return match && unit !== undefined ? { amount: Number(match[1]), unit: UNIT_NAME[unit] } : undefined;
}

/** Milliseconds for a duration such as "1 hour", or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const unit = UNIT_MS[match[2]];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}
