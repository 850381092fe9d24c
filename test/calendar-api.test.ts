/**
 * The calendar over HTTP (moments of a year, the next date of a moment, name days) and the
 * date triggers' validation: clear 400s naming the field, never a 500.
 */
import { Harness } from './helpers/harness';
import { readEnv } from '../runtime/env';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start({ runWorker: false, runRouter: false });
}, 120_000);
afterAll(() => h?.stop());

test('GET /v1/calendar/moments?year=2027 lists the year by date', async () => {
  const res = await h.http('get', '/v1/calendar/moments?year=2027');
  expect(res.status).toBe(200);
  expect(res.body.moments).toEqual(
    expect.arrayContaining([
      { id: 'fete-des-meres', name: 'Fête des mères', kind: 'commercial', date: '2027-05-30' },
      { id: 'black-friday', name: 'Black Friday', kind: 'commercial', date: '2027-11-26' },
      { id: 'noel', name: 'Noël', kind: 'holiday', date: '2027-12-25' },
    ]),
  );
  expect((await h.http('get', '/v1/calendar/moments?year=abc')).body.error).toMatchObject({ code: expect.any(String) });
  expect((await h.http('get', '/v1/calendar/moments?year=abc')).status).toBe(400);
});

test('the next date of a moment; an unknown moment is a 404', async () => {
  expect((await h.http('get', '/v1/calendar/moments/black-friday/next?after=2026-11-30')).body).toEqual({
    id: 'black-friday',
    after: '2026-11-30',
    date: '2027-11-26',
  });
  expect((await h.http('get', '/v1/calendar/moments/nowhere/next')).status).toBe(404);
  expect((await h.http('get', '/v1/calendar/moments/noel/next?after=30-11-2026')).status).toBe(400);
});

test('name days: by name (accents and case do not matter) and by day', async () => {
  expect((await h.http('get', '/v1/calendar/name-days?name=STEPHANE')).body).toEqual({
    name: 'STEPHANE',
    key: 'stephane',
    day: '12-26',
  });
  expect((await h.http('get', '/v1/calendar/name-days?name=Jean-Pierre')).body).toEqual({
    name: 'Jean-Pierre',
    key: 'jean',
    day: '06-24',
  });
  expect((await h.http('get', '/v1/calendar/name-days?day=12-26')).body.names).toEqual(
    expect.arrayContaining(['etienne', 'stephane', 'stephanie']),
  );
  expect((await h.http('get', '/v1/calendar/name-days?day=13-01')).status).toBe(400);
});

test('date triggers are validated when the flow is saved', async () => {
  const flow = (trigger: unknown) => ({
    name: 'x',
    trigger,
    steps: [{ id: 'e', type: 'email', subject: 's', html: 'h' }],
  });
  const put = (trigger: unknown) => h.http('put', '/v1/flows/dated').send(flow(trigger));
  expect((await put({ date: { property: 'birthday', offsetDays: -3, at: '09:00' } })).status).toBe(201);
  expect((await put({ nameDay: {} })).status).toBe(200);
  expect((await put({ moment: { id: 'fete-des-meres', offsetDays: -3 } })).status).toBe(200);
  const bad = await put({ moment: { id: 'fete-des-grands-meres' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain('not a calendar moment');
  expect((await put({ date: { property: 'birthday', at: '9h' } })).status).toBe(400);
  expect((await put({ date: { property: 'birthday', offsetDays: 1.5 } })).status).toBe(400);
});

test('CALENDAR_MOMENTS is checked at start', () => {
  expect(() => readEnv({ CALENDAR_MOMENTS: '{"rentree":"09-02"}' })).not.toThrow();
  expect(() => readEnv({ CALENDAR_MOMENTS: '{"rentree":"2027-09-02"}' })).toThrow(/CALENDAR_MOMENTS/);
  expect(() => readEnv({ CALENDAR_MOMENTS: 'not json' })).toThrow(/CALENDAR_MOMENTS/);
});
