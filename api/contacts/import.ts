/**
 * `POST /v1/contacts/import`, the reading side: the body (a CSV file with a header row, or JSON lines, possibly
 * gzipped) read as a stream a record at a time, each record checked into a row to import or the errors naming its
 * fields. services/contact-import.ts stores the rows a chunk at a time as they come, so a million rows take constant
 * memory. A body that cannot be read, or past a limit, stops the import with a 4xx; the rows before are stored.
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import type { ImportFormat, RowError } from '../../db/imports';
import type { ReadRow } from '../../services/contact-import';
import { HttpError } from '../errors';
import { ID_COLUMNS, parseImportRow } from './import-rows';

/** How long the API lets one request last: a streamed import of a million rows takes about ten minutes. */
export const IMPORT_REQUEST_TIMEOUT_MS = 60 * 60_000;

/** A CSV record or JSON line longer than this stops the import (it would have to be held whole). */
export const MAX_RECORD_BYTES = 64 * 1024;
/**
 * Bytes one import may read, counted after decompression: a small gzip body can inflate to
 * gigabytes. A million ordinary rows are a few hundred MB.
 */
export const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;

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

/** A row or a body past its limit: a 413 naming it; what came before is stored. */
class TooLargeError extends HttpError {
  constructor(message: string, row?: number) {
    super(413, 'payload_too_large', message, row === undefined ? undefined : [{ path: ['row', row], message }]);
  }
}

const tooLongRow = (row: number) =>
  new TooLargeError(
    `row ${row} is longer than ${MAX_RECORD_BYTES / 1024} KB; the import stopped there (the rows before it are stored)`,
    row,
  );

/** Passes at most `max` bytes on; one more is a 413 (counted after decompression). */
function limitBytes(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max)
        done(
          new TooLargeError(
            `the import is larger than ${Math.round(max / 1024 / 1024)} MB once decompressed; the import stopped ` +
              'there (the rows before are stored): split the file',
          ),
        );
      else done(null, chunk);
    },
  });
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
    if (err instanceof HttpError) throw err;
    const e = err as { code?: string; message: string; records?: unknown };
    // `records`: the rows the parser has read (some may not have reached this loop yet).
    if (e.code === 'CSV_MAX_RECORD_SIZE') throw tooLongRow((typeof e.records === 'number' ? e.records : row) + 1);
    // A malformed file (a quote never closed): what came before is stored.
    throw new FileError(`CSV cannot be read after row ${row}: ${e.message}`);
  }
}

/**
 * The input split at newlines, a line at a time, each at most MAX_RECORD_BYTES: a longer one
 * stops the import before it is buffered (readline would hold a 1 GB line whole, and die).
 * Lines are decoded whole, so a character split between two chunks stays whole.
 */
async function* boundedLines(input: Readable): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let held = 0;
  let row = 1;
  const line = () => {
    const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts, held);
    parts = [];
    held = 0;
    row++;
    const text = bytes.toString('utf8');
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };
  // A line ending in \r\n may hold one byte more than the limit: the \r is not part of it.
  const tooLong = (bytes: number, last?: number) => bytes - (last === 13 ? 1 : 0) > MAX_RECORD_BYTES;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(10); ; end = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (held + piece.length > MAX_RECORD_BYTES + 1) throw tooLongRow(row);
      if (piece.length > 0) {
        parts.push(piece);
        held += piece.length;
      }
      if (end === -1) break;
      if (tooLong(held, parts.at(-1)?.at(-1))) throw tooLongRow(row);
      yield line();
      start = end + 1;
    }
  }
  if (tooLong(held, parts.at(-1)?.at(-1))) throw tooLongRow(row);
  if (held > 0) yield line();
}

async function* jsonLines(input: Readable): AsyncGenerator<Parsed> {
  let row = 0;
  for await (const line of boundedLines(input)) {
    row++;
    if (line.trim() === '') continue;
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

/**
 * The rows of the body, read as they are asked for. The body is piped (and its errors caught) when this is called:
 * services/contact-import.ts calls it once the import is recorded.
 */
export function readImportRows(body: Readable, opts: { format: ImportFormat; gzip: boolean }): AsyncIterable<ReadRow> {
  // Not pipeline(): it would destroy the request on an early stop, and the client would get no answer.
  const input = limitBytes(MAX_IMPORT_BYTES);
  const decoded = opts.gzip ? body.pipe(createGunzip()) : body;
  body.on('error', (err) => input.destroy(err));
  if (decoded !== body) decoded.on('error', (err) => input.destroy(err));
  decoded.pipe(input);
  return checkedRows(readErrorsAre400(opts.format === 'csv' ? csvRecords(input) : jsonLines(input)));
}

async function* checkedRows(records: AsyncGenerator<Parsed>): AsyncGenerator<ReadRow> {
  for await (const parsed of records) yield 'record' in parsed ? parseImportRow(parsed.record, parsed.row) : parsed;
}

/** How long an import stopped early waits for the rest of its upload, read and thrown away. */
const DISCARD_WAIT_MS = 10_000;

/**
 * An import stopped before the end of its body: the rest is read and dropped (never held),
 * so the client, still sending, gets the answer rather than a connection reset. A client
 * still sending after DISCARD_WAIT_MS gets the answer with the connection closed after it.
 */
export async function discardRest(req: Readable & { complete?: boolean }): Promise<void> {
  if (req.complete || req.readableEnded || req.destroyed) return;
  req.unpipe();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, DISCARD_WAIT_MS);
    function done() {
      clearTimeout(timer);
      req.off('end', done).off('close', done).off('error', done);
      resolve();
    }
    req.on('end', done).on('close', done).on('error', done);
    req.resume();
  });
}
