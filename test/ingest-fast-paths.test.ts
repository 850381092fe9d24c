/**
 * The shortcuts batch ingestion takes for speed give exactly what the general path gives.
 * Timestamps: the plain ISO forms are read without luxon; every one read must be the text
 * luxon gives, and everything else must be left to luxon.
 */
import { DateTime } from 'luxon';
import { fastIsoUtc } from '../api/events/schemas';

/** What the schema did before the shortcut (and still does for what it leaves). */
function luxonIsoUtc(text: string): string | undefined {
  const parsed = [DateTime.fromISO(text, { zone: 'utc' }), DateTime.fromSQL(text, { zone: 'utc' })].find((d) => d.isValid)?.toUTC();
  return parsed && parsed.year >= 1 && parsed.year <= 9999 ? parsed.toISO()! : undefined;
}

/** A fixed sequence (a failure reproduces), covering edges: month 13, day 32, hour 24, Feb 29. */
function* candidates(count: number): Generator<string> {
  let seed = 12345;
  const next = (lo: number, hi: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return lo + (seed % (hi - lo + 1));
  };
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  for (let i = 0; i < count; i++) {
    const year = [next(0, 9999), next(1990, 2030), 9999, 1000, 999, 2024][next(0, 5)];
    const fraction = ['', `.${pad(next(0, 9), 1)}`, `.${pad(next(0, 99), 2)}`, `.${pad(next(0, 999), 3)}`][next(0, 3)];
    const zone = ['', 'Z', `+${pad(next(0, 24), 2)}:${pad(next(0, 60), 2)}`, `-${pad(next(0, 14), 2)}:${pad(next(0, 59), 2)}`][next(0, 3)];
    yield `${pad(year, 4)}-${pad(next(0, 13), 2)}-${pad(next(0, 32), 2)}T${pad(next(0, 24), 2)}:${pad(next(0, 60), 2)}:${pad(next(0, 60), 2)}${fraction}${zone}`;
  }
}

describe('timestamps read without luxon', () => {
  test('every plain ISO text read gives the same UTC text luxon gives', () => {
    let read = 0;
    const differing: string[] = [];
    for (const text of candidates(50_000)) {
      const fast = fastIsoUtc(text);
      if (fast === undefined) continue;
      read += 1;
      if (fast !== luxonIsoUtc(text)) differing.push(`${text}: ${fast} vs ${luxonIsoUtc(text)}`);
    }
    expect(differing.slice(0, 5)).toEqual([]);
    // The shortcut is taken for most of them (else it would prove nothing).
    expect(read).toBeGreaterThan(10_000);
  });

  test.each([
    ['2026-03-01T10:00:00Z', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T10:00:00.5Z', '2026-03-01T10:00:00.500Z'],
    ['2026-03-01T10:00:00', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T01:00:00+02:00', '2026-02-28T23:00:00.000Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(fastIsoUtc(text)).toBe(iso);
    expect(luxonIsoUtc(text)).toBe(iso);
  });

  test.each(['2025-02-29T00:00:00Z', '2026-03-01 10:00:00', '2026-03-01T24:00:00Z', '0999-01-01T00:00:00Z', '9999-12-31T23:00:00-02:00', '2026-03-01T10:00:00.123456Z', '2026-W09-1'])(
    '%s is left to luxon',
    (text) => expect(fastIsoUtc(text)).toBeUndefined(),
  );
});
