/** Settings this part adds: the default time zone is checked at start, and the Postgres pool fits the worker. */
import { poolSettings, readEnv } from '../runtime/env';

test('an unknown DEFAULT_TIMEZONE is refused at start, naming the variable', () => {
  expect(() => readEnv({ DEFAULT_TIMEZONE: 'Europe/Atlantis' })).toThrow(/DEFAULT_TIMEZONE: not an IANA time zone/);
  expect(readEnv({ DEFAULT_TIMEZONE: 'Europe/Paris' }).DEFAULT_TIMEZONE).toBe('Europe/Paris');
});

test("the worker's pool fits its activity concurrency; the API's is 10; DATABASE_POOL_MAX overrides both", () => {
  expect(poolSettings(readEnv({ WORKER_ACTIVITY_CONCURRENCY: '50' }), 'worker').max).toBe(54);
  expect(poolSettings(readEnv({}), 'worker').max).toBe(24);
  expect(poolSettings(readEnv({}), 'api').max).toBe(10);
  expect(poolSettings(readEnv({ DATABASE_POOL_MAX: '7' }), 'worker').max).toBe(7);
});

test('Postgres timeouts come from the environment; the client-side bound is above the server-side one', () => {
  const settings = poolSettings(
    readEnv({ DATABASE_CONNECT_TIMEOUT_MS: '1500', DATABASE_STATEMENT_TIMEOUT_MS: '10000' }),
    'api',
  );
  expect(settings).toEqual({ max: 10, connectionTimeoutMs: 1_500, statementTimeoutMs: 10_000, queryTimeoutMs: 12_000 });
  expect(() => readEnv({ DATABASE_CONNECT_TIMEOUT_MS: 'soon' })).toThrow(/DATABASE_CONNECT_TIMEOUT_MS/);
});
