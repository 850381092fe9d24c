/**
 * One imported row (a CSV record under its header, or a JSON line) to what is stored: who it
 * is about, the traits it sets, the consent it records. Pure: no I/O. A bad row gives every
 * problem it has, each naming its field, and is skipped; the import goes on.
 */
import { z } from 'zod';
import type { ImportRow } from '../../services/contact-import';
import { unstorableJson } from '../../connectors/storable-json';
import { MAX_ID_LENGTH } from '../validate';
import type { RowError } from '../../db/imports';

export const CONSENT_CHANNELS = ['email', 'sms', 'push'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];
export const CONSENT_STATUSES = ['subscribed', 'unsubscribed', 'pending', 'never_asked'] as const;
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** Columns naming the contact; any one of them is enough. */
export const ID_COLUMNS = ['user_id', 'userId', 'email', 'phone'];
/** `<channel>_consent` columns: a status per channel for each row. */
const CONSENT_COLUMN = /^(email|sms|push)_consent$/;

/** Spreadsheet spellings of a consent, beside the statuses themselves. */
const CONSENT_WORDS: Record<string, ConsentStatus> = {
  yes: 'subscribed',
  true: 'subscribed',
  '1': 'subscribed',
  y: 'subscribed',
  opted_in: 'subscribed',
  'opt-in': 'subscribed',
  no: 'unsubscribed',
  false: 'unsubscribed',
  '0': 'unsubscribed',
  n: 'unsubscribed',
  opted_out: 'unsubscribed',
  'opt-out': 'unsubscribed',
};

const email = z.email();
const PHONE = /^\+?[0-9][0-9 ().-]{4,30}$/;
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Empty cells set nothing (a blank cell is not "erase this trait"). */
const isBlank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

export function parseImportRow(
  record: Record<string, unknown>,
  row: number,
): { row: ImportRow } | { errors: RowError[] } {
  const errors: RowError[] = [];
  const fail = (field: string, message: string) => errors.push({ row, field, message });
  const unstorable = unstorableJson(record);
  if (unstorable) return { errors: [{ row, field: unstorable.path.join('.') || 'row', message: unstorable.message }] };

  const out: ImportRow = { row, traits: {}, consent: {} };
  const text = (field: string, value: unknown): string | undefined => {
    if (isBlank(value)) return undefined;
    if (typeof value === 'string' || typeof value === 'number') return String(value).trim();
    fail(field, 'must be text');
    return undefined;
  };
  for (const [key, value] of Object.entries(record)) {
    if (key === 'traits' && isObject(value)) {
      Object.assign(out.traits, Object.fromEntries(Object.entries(value).filter(([, v]) => !isBlank(v))));
    } else if (key === 'user_id' || key === 'userId') {
      const id = text(key, value);
      if (id !== undefined && id.length > MAX_ID_LENGTH) fail(key, `is longer than ${MAX_ID_LENGTH} characters`);
      else if (id !== undefined) out.userId = id;
    } else if (key === 'email') {
      const address = text(key, value)?.toLowerCase();
      if (address !== undefined && !email.safeParse(address).success) fail(key, 'is not an email address');
      else if (address !== undefined) out.email = address;
    } else if (key === 'phone') {
      const phone = text(key, value);
      if (phone !== undefined && !PHONE.test(phone))
        fail(key, 'is not a phone number (digits, optionally a leading +)');
      else if (phone !== undefined) out.phone = phone.replace(/[ ().-]/g, '');
    } else if (CONSENT_COLUMN.test(key)) {
      const given = text(key, value)?.toLowerCase();
      if (given === undefined) continue;
      const status = (CONSENT_STATUSES as readonly string[]).includes(given)
        ? (given as ConsentStatus)
        : CONSENT_WORDS[given];
      if (status) out.consent[CONSENT_COLUMN.exec(key)![1] as ConsentChannel] = status;
      else fail(key, `must be one of ${CONSENT_STATUSES.join(', ')} (or yes/no)`);
    } else if (key.trim() === '') {
      if (!isBlank(value)) fail('(unnamed column)', 'a column without a name in the header holds a value');
    } else if (!isBlank(value)) {
      out.traits[key] = typeof value === 'string' ? value.trim() : value;
    }
  }
  if (
    out.userId === undefined &&
    out.email === undefined &&
    out.phone === undefined &&
    !errors.some((e) => ['user_id', 'userId', 'email', 'phone'].includes(e.field))
  ) {
    fail('user_id', 'a row needs a user_id, an email or a phone');
  }
  if (errors.length) return { errors };
  if (out.email) out.traits.email = out.email;
  if (out.phone) out.traits.phone = out.phone;
  return { row: out };
}
