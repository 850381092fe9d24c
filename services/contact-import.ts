/**
 * Importing contacts (`POST /v1/contacts/import`; api/contacts/import.ts reads the file): the rows are stored a
 * chunk at a time as they are read. Each good row is stored as an identify call (the ingestion's own store:
 * profiles, merges and the stored event flows and segments react to) with a messageId derived from the row's
 * content: importing the same file again stores nothing and changes nothing. Consent columns record the import as
 * the consent's source (`import:<import id>`). Bad rows are listed with their row number and field, and never stop
 * the import.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ConsentChannel, ConsentStatus } from '../audiences/consent-policy';
import { resolveContactIds } from '../db/contact-merge';
import { writeConsent, type ConsentChange } from '../db/consent';
import { tableExists } from '../db/contact-search';
import { contactIdsByAddress } from '../db/contacts';
import { eventsByMessageIds } from '../db/events';
import {
  createImport,
  finishImport,
  getImport,
  recordProgress,
  type ImportFormat,
  type ImportRecord,
  type RowError,
} from '../db/imports';
import { inTransaction, type Db, type Queryable } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { HttpError } from './errors';
import { storeCalls, type PreparedCall } from './event-store';

/** Rows stored per transaction: large enough for set-based statements to pay, small enough to hold little. */
export const IMPORT_CHUNK = 1_000;

/** One imported row, checked: who it is about, the traits it sets, the consent it records. */
export interface ImportRow {
  /** Its number in the file (1 is the first after a CSV header). */
  row: number;
  userId?: string;
  email?: string;
  phone?: string;
  traits: Record<string, unknown>;
  consent: Partial<Record<ConsentChannel, ConsentStatus>>;
}

/** A record of the file as read: the row to import, or every problem it has, each naming its field. */
export type ReadRow = { row: ImportRow } | { errors: RowError[] };

export interface ImportDeps {
  db: Db;
  log: Logger;
}

/**
 * Runs the import as the rows are read (`readRows` is asked for them once the import is recorded); answers with its
 * record once every row is read and stored. A 4xx met while reading (a row too long, a body that cannot be read)
 * stops it: the rows read before are stored, and the error is rethrown.
 */
export async function runImport(
  deps: ImportDeps,
  format: ImportFormat,
  readRows: () => AsyncIterable<ReadRow>,
): Promise<ImportRecord> {
  const id = randomUUID();
  await createImport(deps.db, id, format);
  const rows = readRows();
  const consentKept = await tableExists(deps.db, 'contact_consent');
  let chunk: ImportRow[] = [];
  let pending: ImportProgressDraft = emptyDraft();
  let storing: Promise<void> = Promise.resolve();
  try {
    for await (const result of rows) {
      pending.read++;
      if ('errors' in result) fail(pending, result.errors);
      else if (!consentKept && Object.keys(result.row.consent).length > 0) {
        fail(
          pending,
          Object.keys(result.row.consent).map((channel) => ({
            row: result.row.row,
            field: `${channel}_consent`,
            message: 'consent cannot be recorded: this server has no consent module yet',
          })),
        );
      } else chunk.push(result.row);
      if (chunk.length >= IMPORT_CHUNK || pending.read >= IMPORT_CHUNK * 2) {
        // Postgres stores one chunk while the next is read and parsed: two chunks in memory at most, stored in file
        // order.
        await storing;
        storing = storeChunk(deps, id, chunk, pending);
        storing.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
        chunk = [];
        pending = emptyDraft();
      }
    }
    await storing;
    await storeChunk(deps, id, chunk, pending);
    await finishImport(deps.db, id);
  } catch (err) {
    await storing.catch(() => undefined);
    // The file is refused from a row on (too large, unreadable): the rows read before it are stored, as said.
    if (err instanceof HttpError && err.status < 500)
      await storeChunk(deps, id, chunk, pending).catch((storeErr: unknown) =>
        deps.log.warn({ err: storeErr, importId: id }, 'import: rows before the refused one not stored'),
      );
    const message = err instanceof HttpError ? err.message : 'the import stopped: storage failed';
    await finishImport(deps.db, id, message).catch(() => undefined);
    throw err;
  }
  return (await getImport(deps.db, id))!;
}

interface ImportProgressDraft {
  read: number;
  failed: number;
  errors: RowError[];
}
const emptyDraft = (): ImportProgressDraft => ({ read: 0, failed: 0, errors: [] });
function fail(draft: ImportProgressDraft, errors: RowError[]): void {
  draft.failed++;
  draft.errors.push(...errors);
}

/** Same contact, same data: same messageId, so a repeated row (or file) is a duplicate. */
function rowMessageId(contactId: string, row: ImportRow): string {
  const sorted = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const digest = createHash('sha256')
    .update(JSON.stringify([contactId, sorted(row.traits), sorted(row.consent)]))
    .digest('hex');
  return `import:${digest.slice(0, 40)}`;
}

/**
 * Rows without a user_id are the contact that already has their email (else phone); a new one
 * is keyed by that address, so importing it again finds the same contact.
 */
async function contactIdsOf(q: Queryable, rows: ImportRow[]): Promise<string[]> {
  const byAddress = (column: 'email' | 'phone', values: string[]) => contactIdsByAddress(q, column, values);
  const anonymous = rows.filter((r) => r.userId === undefined);
  const emails = await byAddress('email', [...new Set(anonymous.flatMap((r) => (r.email ? [r.email] : [])))]);
  const phones = await byAddress('phone', [
    ...new Set(anonymous.flatMap((r) => (!r.email && r.phone ? [r.phone] : []))),
  ]);
  return rows.map((r) => r.userId ?? (r.email ? (emails.get(r.email) ?? r.email) : (phones.get(r.phone!) ?? r.phone!)));
}

async function storeChunk(
  deps: ImportDeps,
  importId: string,
  rows: ImportRow[],
  draft: ImportProgressDraft,
): Promise<void> {
  let stored = 0;
  let unchanged = 0;
  if (rows.length > 0) {
    const contactIds = await contactIdsOf(deps.db, rows);
    const now = new Date().toISOString();
    const calls: PreparedCall[] = rows.map((row, i) => ({
      callType: 'identify',
      type: 'identify',
      messageId: rowMessageId(contactIds[i], row),
      contactId: contactIds[i],
      mergeFrom: [],
      traits: row.traits,
      properties: {},
      context: { source: { type: 'import', importId, row: row.row } },
      occurredAt: now,
    }));
    const withConsent = calls.flatMap((call, i) =>
      Object.keys(rows[i].consent).length ? [{ call, row: rows[i] }] : [],
    );
    if (withConsent.length) await inTransaction(deps.db, (tx) => recordConsent(tx, importId, withConsent, now));
    const outcomes = await storeCalls(deps.db, calls, { routeWithinMs: 0, log: deps.log });
    outcomes.forEach((o, i) => {
      if (o.status === 'refused') fail(draft, [{ row: rows[i].row, field: 'row', message: o.message }]);
      else if (o.status === 'stored') stored++;
      else unchanged++;
    });
  }
  if (draft.read > 0)
    await recordProgress(deps.db, importId, {
      read: draft.read,
      stored,
      unchanged,
      failed: draft.failed,
      errors: draft.errors,
    });
}

/**
 * Consent of rows not imported before (their identify not stored yet), in one transaction
 * with its `Consent Changed` events, before the identify calls: a chunk that fails between the
 * two is imported again whole, and its consent is then unchanged (no second event). Each decision
 * goes through `writeConsent`, given the row's own address (the identify that sets it on the
 * contact comes after): an imported opt-out suppresses the address as any other opt-out does.
 */
async function recordConsent(
  tx: Queryable,
  importId: string,
  rows: { call: PreparedCall; row: ImportRow }[],
  at: string,
): Promise<void> {
  const done = await eventsByMessageIds(
    tx,
    rows.map((r) => r.call.messageId),
  );
  const fresh = rows.filter((r) => !done.has(r.call.messageId));
  if (fresh.length === 0) return;
  const canonical = await resolveContactIds(
    tx,
    fresh.map((r) => r.call.contactId),
  );
  // The last row of a contact wins for each channel, as later rows win for traits.
  const wanted = new Map<string, ConsentChange>();
  const source = `import:${importId}`;
  for (const { call, row } of fresh) {
    const contactId = canonical.get(call.contactId) ?? call.contactId;
    for (const [channel, status] of Object.entries(row.consent) as [ConsentChannel, ConsentStatus][]) {
      const address = channel === 'email' ? row.email : channel === 'sms' ? row.phone : undefined;
      wanted.set(`${contactId}\u0000${channel}`, {
        contactId,
        channel,
        status,
        source,
        address,
        occurredAt: at,
        context: { source: { type: 'import', importId } },
      });
    }
  }
  // In contact order, as every writer locks them: two imports at once cannot deadlock.
  const ordered = [...wanted.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, change]) => change);
  for (const change of ordered) await writeConsent(tx, change);
}
