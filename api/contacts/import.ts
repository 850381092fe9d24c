/**
 * `POST /v1/contacts/import`: contacts from a CSV file (header row) or JSON lines, read as a
 * stream and stored a chunk at a time, so a million rows take constant memory. Each good row is
 * stored as an identify call (the ingestion's own store: profiles, merges and the stored event
 * flows and segments react to) with a messageId derived from the row's content: importing the
 * same file again stores nothing and changes nothing. Consent columns record the import as
 * the consent's source (`import:<import id>`). Bad rows are listed with their row number and
 * field, and never stop the import.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { resolveContactIds } from '../../db/contact-merge';
import { writeConsent, type ConsentChange } from '../../db/consent';
import { eventsByMessageIds } from '../../db/events';
import {
  createImport,
  finishImport,
  getImport,
  recordProgress,
  type ImportFormat,
  type ImportRecord,
  type RowError,
} from '../../db/imports';
import { tableExists } from '../../db/contact-search';
import { inTransaction, type Db, type Queryable } from '../../db/pool';
import type { Logger } from '../../runtime/logger';
import { HttpError } from '../errors';
import { storeCalls } from '../events/store';
import type { PreparedCall } from '../events/prepare';
import { ID_COLUMNS, parseImportRow, type ConsentChannel, type ConsentStatus, type ImportRow } from './import-rows';

/** How long the API lets one request last: a streamed import of a million rows takes about ten minutes. */
export const IMPORT_REQUEST_TIMEOUT_MS = 60 * 60_000;

/** Rows stored per transaction: large enough for set-based statements to pay, small enough to hold little. */
export const IMPORT_CHUNK = 1_000;
/** A CSV record or JSON line longer than this is refused (it would have to be held whole). */
const MAX_RECORD_BYTES = 64 * 1024;

const FORMATS: Record<string, ImportFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/x-jsonlines': 'jsonl',
  'application/jsonlines': 'jsonl',
};

export function importFormat(contentType: string | undefined): ImportFormat {
  const type = contentType?.split(';')[0].trim().toLowerCase();
  const format = type ? FORMATS[type] : undefined;
  if (!format)
    throw new HttpError(
      415,
      'unsupported_media_type',
      `content type "${contentType ?? ''}" is not an import format; send "Content-Type: text/csv" (with a header row) or "application/x-ndjson" (JSON lines)`,
    );
  return format;
}

/** The whole file is unusable (not one of its rows): a 400 before anything is stored. */
class FileError extends HttpError {
  constructor(message: string) {
    super(400, 'invalid_import', message);
  }
}

type Parsed = { row: number; record: Record<string, unknown> } | { row: number; errors: RowError[] };

async function* csvRecords(input: Readable): AsyncGenerator<Parsed> {
  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const names = header.map((h) => h.trim());
      if (!names.some((n) => ID_COLUMNS.includes(n)))
        throw new FileError(`the header row needs a column naming the contact: one of ${ID_COLUMNS.join(', ')}`);
      const repeated = names.find((n, i) => n !== '' && names.indexOf(n) !== i);
      if (repeated) throw new FileError(`the header row names column "${repeated}" twice`);
      return names;
    },
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
  });
  input.on('error', (err) => parser.destroy(err));
  input.pipe(parser);
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<Record<string, unknown>>) yield { row: ++row, record };
  } catch (err) {
    if (err instanceof FileError) throw err;
    const e = err as { code?: string; message: string };
    // A malformed file (a quote never closed, a record past the size limit): what came before is stored.
    throw new FileError(`CSV cannot be read after row ${row}: ${e.message}`);
  }
}

async function* jsonLines(input: Readable): AsyncGenerator<Parsed> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let row = 0;
  for await (const line of lines) {
    row++;
    if (line.trim() === '') continue;
    if (line.length > MAX_RECORD_BYTES) {
      yield { row, errors: [{ row, field: 'row', message: `is longer than ${MAX_RECORD_BYTES} characters` }] };
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      yield { row, errors: [{ row, field: 'row', message: `is not JSON: ${(err as Error).message}` }] };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      yield { row, errors: [{ row, field: 'row', message: 'must be a JSON object' }] };
    else yield { row, record: value as Record<string, unknown> };
  }
}

/**
 * A body that cannot be read (gzip that is not, a request cut off) is the client's: 400, with what came before stored.
 */
async function* readErrorsAre400(records: AsyncGenerator<Parsed>): AsyncGenerator<Parsed> {
  try {
    yield* records;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new FileError(`the body cannot be read: ${(err as Error).message}`);
  }
}

export interface ImportDeps {
  db: Db;
  log: Logger;
}

/** Runs the import as the body streams in; answers with its record once the body is read and stored. */
export async function runImport(
  deps: ImportDeps,
  body: Readable,
  opts: { format: ImportFormat; gzip: boolean },
): Promise<ImportRecord> {
  const id = randomUUID();
  await createImport(deps.db, id, opts.format);
  const input = opts.gzip ? body.pipe(createGunzip()) : body;
  if (opts.gzip) body.on('error', (err) => input.destroy(err));
  const consentKept = await tableExists(deps.db, 'contact_consent');
  let chunk: ImportRow[] = [];
  let pending: ImportProgressDraft = emptyDraft();
  let storing: Promise<void> = Promise.resolve();
  try {
    for await (const parsed of readErrorsAre400(opts.format === 'csv' ? csvRecords(input) : jsonLines(input))) {
      pending.read++;
      const result = 'record' in parsed ? parseImportRow(parsed.record, parsed.row) : parsed;
      if ('errors' in result) fail(pending, result.errors);
      else if (!consentKept && Object.keys(result.row.consent).length > 0) {
        fail(
          pending,
          Object.keys(result.row.consent).map((channel) => ({
            row: parsed.row,
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
  const byAddress = async (column: 'email' | 'phone', values: string[]) => {
    if (values.length === 0) return new Map<string, string>();
    const { rows: found } = await q.query<{ address: string; id: string }>(
      `SELECT DISTINCT ON (${column}) ${column} AS address, id FROM contacts WHERE ${column} = ANY($1) AND merged_into IS NULL ORDER BY ${column}, created_at, id`,
      [values],
    );
    return new Map(found.map((r) => [r.address, r.id]));
  };
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
