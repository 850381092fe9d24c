/** Configuration mistakes fail at start with a message naming the variable. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiKeys, rateLimits, readEnv, writeKeys } from '../runtime/env';
import { describeTemporal, temporalSettings } from '../runtime/temporal';

test('defaults need nothing set', () => {
  expect(readEnv({})).toMatchObject({ PORT: 3000, TEMPORAL_NAMESPACE: 'default', TEMPORAL_PORT: 7233 });
});

test('empty variables count as unset', () => {
  expect(readEnv({ EMAIL_FROM: '', TWILIO_ACCOUNT_SID: ' ', SENDGRID_API_KEY: '' }).EMAIL_FROM).toBeUndefined();
});

test('SendGrid without a sender address is refused', () => {
  expect(() => readEnv({ SENDGRID_API_KEY: 'SG.x' })).toThrow(/EMAIL_FROM: required when SENDGRID_API_KEY is set/);
});

test('partial Twilio settings are refused', () => {
  expect(() => readEnv({ TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}` })).toThrow(
    /TWILIO_AUTH_TOKEN and TWILIO_FROM together/,
  );
});

test('a Twilio SID that is not an account SID is refused', () => {
  expect(() => readEnv({ TWILIO_ACCOUNT_SID: 'SK123', TWILIO_AUTH_TOKEN: 't', TWILIO_FROM: '+1' })).toThrow(
    /starts with "AC"/,
  );
});

test('admin keys and write keys are comma-separated lists, blanks dropped', () => {
  const env = readEnv({ API_KEYS: ' admin-1 , admin-2,', WRITE_KEYS: 'write-1,, write-2 ' });
  expect([apiKeys(env), writeKeys(env)]).toEqual([
    ['admin-1', 'admin-2'],
    ['write-1', 'write-2'],
  ]);
  expect(writeKeys(readEnv({}))).toEqual([]);
});

test('rate limits per key kind: defaults, overrides, 0 for no limit; a burst below 1 is refused', () => {
  expect(rateLimits(readEnv({}))).toEqual({
    write: { perSecond: 200, burst: 1000 },
    admin: { perSecond: 500, burst: 1000 },
  });
  expect(
    rateLimits(
      readEnv({ RATE_LIMIT_WRITE_PER_SECOND: '0.5', RATE_LIMIT_WRITE_BURST: '3', RATE_LIMIT_ADMIN_PER_SECOND: '0' }),
    ),
  ).toEqual({
    write: { perSecond: 0.5, burst: 3 },
    admin: { perSecond: 0, burst: 1000 },
  });
  expect(() => readEnv({ RATE_LIMIT_WRITE_BURST: '0' })).toThrow(/RATE_LIMIT_WRITE_BURST/);
  expect(() => readEnv({ RATE_LIMIT_ADMIN_PER_SECOND: '-1' })).toThrow(/RATE_LIMIT_ADMIN_PER_SECOND/);
});

test('a bad port is refused', () => {
  expect(() => readEnv({ PORT: 'eighty' })).toThrow(/PORT/);
});

test('the API listens on this machine only unless HOST says otherwise; HOST must be an address or a host name', () => {
  expect(readEnv({}).HOST).toBe('127.0.0.1');
  expect(readEnv({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
  expect(readEnv({ HOST: '::' }).HOST).toBe('::');
  expect(readEnv({ HOST: 'api.internal' }).HOST).toBe('api.internal');
  expect(() => readEnv({ HOST: 'http://0.0.0.0:3000' })).toThrow(/HOST: an IP address or a host name/);
});

test('TRUST_PROXY: no proxy believed by default; a hop count or proxy addresses/CIDRs; anything else refused in one line', () => {
  expect(readEnv({}).TRUST_PROXY).toBe(false);
  expect(readEnv({ TRUST_PROXY: '0' }).TRUST_PROXY).toBe(false);
  expect(readEnv({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
  expect(readEnv({ TRUST_PROXY: ' 10.0.0.0/8, 192.168.1.4 ,fd00::/8,loopback' }).TRUST_PROXY).toEqual([
    '10.0.0.0/8',
    '192.168.1.4',
    'fd00::/8',
    'loopback',
  ]);
  // "true" would believe whatever X-Forwarded-For a client writes: what this setting exists to stop.
  for (const bad of ['true', '10.0.0.0/33', 'proxy.internal', '1.5', '10.0.0.1/8/2'])
    expect(() => readEnv({ TRUST_PROXY: bad })).toThrow(
      new RegExp(
        `\\n  TRUST_PROXY: "${bad.replace(/\./g, '\\.')}" is neither a hop count \\(e\\.g\\. 1\\) nor [^\\n]+$`,
      ),
    );
});

describe('Temporal connection settings (Temporal Cloud, mTLS and API-key clusters)', () => {
  test('nothing set: the local server, plaintext, and no config file is read', () => {
    expect(temporalSettings(readEnv({}))).toEqual({ address: '127.0.0.1:7233', namespace: 'default' });
  });

  test('an API key turns TLS on and is sent as the key (Temporal Cloud)', () => {
    const settings = temporalSettings(
      readEnv({
        TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233',
        TEMPORAL_NAMESPACE: 'shop.a1b2c',
        TEMPORAL_API_KEY: 'tk_123',
      }),
    );
    expect(settings).toEqual({
      address: 'eu-west-1.aws.api.temporal.io:7233',
      namespace: 'shop.a1b2c',
      apiKey: 'tk_123',
      tls: true,
    });
    expect(describeTemporal(settings)).toBe('eu-west-1.aws.api.temporal.io:7233 (namespace shop.a1b2c, TLS + API key)');
  });

  test('a client certificate and key as PEM text, a CA and a server name become the mTLS settings', () => {
    const settings = temporalSettings(
      readEnv({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_TLS_CLIENT_CERT_DATA: 'CERT PEM',
        TEMPORAL_TLS_CLIENT_KEY_DATA: 'KEY PEM',
        TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'CA PEM',
        TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com',
      }),
    );
    const tls = settings.tls as {
      serverNameOverride?: string;
      serverRootCACertificate?: Uint8Array;
      clientCertPair?: { crt: Uint8Array; key: Uint8Array };
    };
    const text = (bytes?: Uint8Array) => (bytes ? Buffer.from(bytes).toString() : undefined);
    expect({
      serverName: tls.serverNameOverride,
      ca: text(tls.serverRootCACertificate),
      cert: text(tls.clientCertPair?.crt),
      key: text(tls.clientCertPair?.key),
    }).toEqual({ serverName: 'temporal.example.com', ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' });
    expect(describeTemporal(settings)).toBe('temporal.internal:7233 (namespace default, mTLS)');
  });

  test('TEMPORAL_TLS=true alone: TLS with the system CAs', () => {
    expect(
      temporalSettings(readEnv({ TEMPORAL_ADDRESS: 'temporal.example.com:7233', TEMPORAL_TLS: 'true' })).tls,
    ).toMatchObject({ clientCertPair: undefined });
  });

  test('a client certificate without its key is refused, naming the missing variable', () => {
    expect(() => readEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/certs/client.pem' })).toThrow(
      /TEMPORAL_TLS_CLIENT_KEY_PATH: a client certificate needs its key/,
    );
  });

  test('a certificate given both as a path and as PEM text is refused', () => {
    expect(() =>
      readEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/certs/ca.pem', TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'CA PEM' }),
    ).toThrow(
      /TEMPORAL_TLS_SERVER_CA_CERT_DATA: set TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_SERVER_CA_CERT_DATA, not both/,
    );
  });

  test('a Temporal config file (TOML) is read when TEMPORAL_CONFIG_FILE names it; the variables win over it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'parcours-envconfig-'));
    try {
      const file = path.join(dir, 'temporal.toml');
      writeFileSync(
        file,
        '[profile.default]\naddress = "from-file:7233"\napi_key = "tk_file"\n\n[profile.prod]\naddress = "prod:7233"\n',
      );
      expect(temporalSettings(readEnv({ TEMPORAL_CONFIG_FILE: file }))).toMatchObject({
        address: 'from-file:7233',
        apiKey: 'tk_file',
        tls: true,
      });
      expect(temporalSettings(readEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' })).address).toBe(
        'prod:7233',
      );
      expect(temporalSettings(readEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: 'env:7233' })).address).toBe(
        'env:7233',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a certificate file that does not exist fails at start, naming the file', () => {
    expect(() => temporalSettings(readEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/nonexistent/ca.pem' }))).toThrow(
      /\/nonexistent\/ca\.pem/,
    );
  });
});

test('WORKER_HEALTH_PORT must be a port', () => {
  expect(readEnv({ WORKER_HEALTH_PORT: '3001' }).WORKER_HEALTH_PORT).toBe(3001);
  expect(() => readEnv({ WORKER_HEALTH_PORT: 'health' })).toThrow(/WORKER_HEALTH_PORT/);
});
