/** Configuration mistakes fail at start with a message naming the variable. */
import { readEnv } from '../runtime/env';

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
  expect(() => readEnv({ TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}` })).toThrow(/TWILIO_AUTH_TOKEN and TWILIO_FROM together/);
});

test('a Twilio SID that is not an account SID is refused', () => {
  expect(() => readEnv({ TWILIO_ACCOUNT_SID: 'SK123', TWILIO_AUTH_TOKEN: 't', TWILIO_FROM: '+1' })).toThrow(/starts with "AC"/);
});

test('a bad port is refused', () => {
  expect(() => readEnv({ PORT: 'eighty' })).toThrow(/PORT/);
});
