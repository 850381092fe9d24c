/**
 * The shortcuts batch ingestion takes for speed give exactly what the general path gives.
 * Timestamps: the plain ISO forms are read without luxon; every one read must be the text
 * luxon gives, and everything else must be left to luxon. Track calls: checked without zod;
 * every one vouched for must be one zod accepts, with the same output. JSON bodies: parsed
 * with JSON.parse when that is exact, with the same value (or error) as lossless-json.
 */
import { DateTime } from 'luxon';
import { isSafeNumber, parse } from 'lossless-json';
import { fastIsoUtc, plainTrack, trackPayload } from '../api/events/schemas';
import { parseExactJson } from '../connectors/exact-json';

/** What the schema did before the shortcut (and still does for what it leaves). */
function luxonIsoUtc(text: string): string | undefined {
  const parsed = [DateTime.fromISO(text, { zone: 'utc' }), DateTime.fromSQL(text, { zone: 'utc' })]
    .find((d) => d.isValid)
    ?.toUTC();
  return parsed && parsed.year >= 1 && parsed.year <= 9999 ? parsed.toISO()! : undefined;
}

/** A fixed sequence (a failure reproduces), covering edges: month 13, day 32, hour 24, Feb 29. */
function* candidates(count: number): Generator<string> {
  let seed = 12345;
  const next = (lo: number, hi: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return lo + (Math.floor(seed / 65536) % (hi - lo + 1));
  };
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  for (let i = 0; i < count; i++) {
    const year = [next(0, 9999), next(1990, 2030), 9999, 1000, 999, 2024][next(0, 5)];
    const fraction = ['', `.${pad(next(0, 9), 1)}`, `.${pad(next(0, 99), 2)}`, `.${pad(next(0, 999), 3)}`][next(0, 3)];
    const zone = [
      '',
      'Z',
      `+${pad(next(0, 24), 2)}:${pad(next(0, 60), 2)}`,
      `-${pad(next(0, 14), 2)}:${pad(next(0, 59), 2)}`,
    ][next(0, 3)];
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

  test.each([
    '2025-02-29T00:00:00Z',
    '2026-03-01 10:00:00',
    '2026-03-01T24:00:00Z',
    '0999-01-01T00:00:00Z',
    '9999-12-31T23:00:00-02:00',
    '2026-03-01T10:00:00.123456Z',
    '2026-W09-1',
  ])('%s is left to luxon', (text) => expect(fastIsoUtc(text)).toBeUndefined());
});

/**
 * Items near and past every rule of the track schema, from a fixed sequence: each field takes
 * one of its valid values, except one or two fields that take any of their values.
 */
function* trackItems(count: number): Generator<Record<string, unknown>> {
  let seed = 987;
  const pick = <T>(options: T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return options[Math.floor(seed / 65536) % options.length];
  };
  const absent = undefined;
  const ids = {
    valid: [absent, 'u-1', 'x'.repeat(255), 42, 1.5, -0],
    invalid: [' padded ', '', 'x'.repeat(256), true, {}, ['a']],
  };
  const times = {
    valid: [absent, '2026-03-01T10:00:00Z', '2026-03-01T10:00:00.5+02:00', '2026-03-01 10:00:00'],
    invalid: ['yesterday', '2025-02-29T00:00:00Z', 12, '10000-01-01T00:00:00Z'],
  };
  const fields: Record<string, { valid: unknown[]; invalid: unknown[] }> = {
    type: { valid: [absent, 'track'], invalid: ['identify', 5] },
    event: { valid: ['Product Viewed', 'e'.repeat(200)], invalid: [absent, '', 'e'.repeat(201), 7] },
    properties: { valid: [absent, {}, { price: 59.5, nested: { a: [1] } }], invalid: [[], 'text', 3] },
    context: {
      valid: [absent, {}, { library: { name: 'x' } }, { traits: { email: 'a@b.c' } }],
      invalid: [{ traits: [] }, { traits: 'x' }, [], 'ctx'],
    },
    userId: ids,
    anonymousId: ids,
    messageId: ids,
    timestamp: times,
    originalTimestamp: times,
    sentAt: times,
    integrations: { valid: [absent, { All: true }], invalid: [] },
  };
  const names = Object.keys(fields);
  for (let i = 0; i < count; i++) {
    const wild = new Set([pick(names), pick([...names, ...names, 'none'])]);
    const item: Record<string, unknown> = {};
    for (const name of names) {
      const value = pick(wild.has(name) ? [...fields[name].valid, ...fields[name].invalid] : fields[name].valid);
      if (value !== undefined) item[name] = value;
    }
    yield item;
  }
}

describe('track calls checked without zod', () => {
  test('every call vouched for is accepted by zod with the same output; a good share of the valid ones are vouched for', () => {
    const differing: string[] = [];
    let vouched = 0;
    let valid = 0;
    for (const item of trackItems(20_000)) {
      const fast = plainTrack(item);
      const zod = trackPayload.safeParse(item);
      if (zod.success) valid += 1;
      if (fast === undefined) continue;
      vouched += 1;
      if (!zod.success || JSON.stringify(sorted(fast)) !== JSON.stringify(sorted(zod.data)))
        differing.push(`${JSON.stringify(item)}: ${JSON.stringify(fast)} vs ${JSON.stringify(zod)}`);
    }
    expect(differing.slice(0, 3)).toEqual([]);
    expect(vouched).toBeGreaterThan(valid / 4);
  });
});

/** Keys in order, recursively: the stored jsonb does not keep key order either. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
  );
}

describe('JSON bodies parsed with JSON.parse when that is exact', () => {
  const lossless = (text: string) =>
    parse(text, null, (digits: string) => (isSafeNumber(digits) ? Number(digits) : digits));
  const outcome = (read: (text: string) => unknown, text: string) => {
    try {
      return { value: read(text) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  test.each([
    ['plain', '{"userId":"u1","properties":{"price":59.5,"qty":3,"tags":["a","b"],"ok":true,"none":null}}'],
    ['an id past 2^53', '{"userId":603851970716743426,"n":1}'],
    ['an id of 16 digits that fits', '{"userId":1234567890123456}'],
    ['a float with more digits than a double keeps', '{"price":0.10000000000000000555}'],
    ['an exponent past a double', '{"big":1e400,"small":1e-400,"fine":2.5E3}'],
    ['a key repeated with another value', '{"a":1,"b":{"c":1,"c":2}}'],
    ['a key repeated with the same value', '{"a":1,"a":1}'],
    ['a colon and quotes inside strings', '{"url":"https://x.example/a:b","q":"say \\"hi\\": ok"}'],
    ['a __proto__ key', '{"__proto__":{"polluted":true},"x":1}'],
    ['invalid JSON', '{"a":1,}'],
    ['a lone value', '42'],
    ['nested arrays of objects', '[{"a":[{"b":1},{"b":2}]},{"c":{"d":{"e":[1,2,3]}}}]'],
  ])('%s: the same value or error as lossless-json', (_, text) => {
    expect(outcome(parseExactJson, text)).toEqual(outcome(lossless, text));
  });

  test('a plain body is read by JSON.parse (the shortcut is taken)', () => {
    const spy = jest.spyOn(JSON, 'parse');
    try {
      expect(parseExactJson('{"batch":[{"userId":"u1","properties":{"price":59.5}}]}')).toEqual({
        batch: [{ userId: 'u1', properties: { price: 59.5 } }],
      });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  test('large ids stay exact strings; a repeated key with another value is refused as before', () => {
    expect(parseExactJson('{"userId":603851970716743426}')).toEqual({ userId: '603851970716743426' });
    expect(() => parseExactJson('{"a":1,"a":2}')).toThrow(/Duplicate key/);
  });
});
