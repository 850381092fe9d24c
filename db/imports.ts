/** Contact imports: their progress, and each bad row's reasons (row number, field, message). */
import type { Queryable } from './pool';

export type ImportFormat = 'csv' | 'jsonl';

export interface RowError {
  /** 1 for the first data row (CSV: the row after the header; JSON lines: the first line). */
  row: number;
  field: string;
  message: string;
}

export interface ImportRecord {
  id: string;
  format: ImportFormat;
  status: 'running' | 'done' | 'failed';
  rowsRead: number;
  rowsStored: number;
  rowsUnchanged: number;
  rowsFailed: number;
  error: string | null;
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

/** At most this many row errors are kept per import; rows_failed counts them all. */
export const MAX_KEPT_ERRORS = 10_000;

export async function createImport(q: Queryable, id: string, format: ImportFormat): Promise<void> {
  await q.query('INSERT INTO contact_imports (id, format) VALUES ($1, $2)', [id, format]);
}

export interface ImportProgress {
  read: number;
  stored: number;
  unchanged: number;
  errors: RowError[];
  /** Rows with one or more errors. */
  failed: number;
}

/** Adds one chunk's outcome. */
export async function recordProgress(q: Queryable, id: string, p: ImportProgress): Promise<void> {
  await q.query(
    `UPDATE contact_imports SET rows_read = rows_read + $2, rows_stored = rows_stored + $3, rows_unchanged = rows_unchanged + $4,
       rows_failed = rows_failed + $5, updated_at = now() WHERE id = $1`,
    [id, p.read, p.stored, p.unchanged, p.failed],
  );
  if (p.errors.length === 0) return;
  await q.query(
    `INSERT INTO contact_import_errors (import_id, row_number, field, message)
     SELECT $1, row, field, message FROM jsonb_to_recordset($2::jsonb) AS e(row int, field text, message text)
      WHERE (SELECT count(*) FROM contact_import_errors WHERE import_id = $1) < ${MAX_KEPT_ERRORS}
     ON CONFLICT DO NOTHING`,
    [id, JSON.stringify(p.errors)],
  );
}

export async function finishImport(q: Queryable, id: string, error?: string): Promise<void> {
  await q.query(
    'UPDATE contact_imports SET status = $2, error = $3, finished_at = now(), updated_at = now() WHERE id = $1',
    [id, error ? 'failed' : 'done', error ?? null],
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ImportRow {
  id: string;
  format: ImportFormat;
  status: ImportRecord['status'];
  rows_read: number;
  rows_stored: number;
  rows_unchanged: number;
  rows_failed: number;
  error: string | null;
  started_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

export async function getImport(q: Queryable, id: string): Promise<ImportRecord | undefined> {
  if (!UUID.test(id)) return undefined;
  const { rows } = await q.query<ImportRow>('SELECT * FROM contact_imports WHERE id = $1', [id]);
  return rows[0] && toImport(rows[0]);
}

/** The latest imports, newest first: a running one shows its progress before its request has answered. */
export async function listImports(q: Queryable, limit: number): Promise<ImportRecord[]> {
  const { rows } = await q.query<ImportRow>('SELECT * FROM contact_imports ORDER BY started_at DESC, id LIMIT $1', [
    limit,
  ]);
  return rows.map(toImport);
}

function toImport(r: ImportRow): ImportRecord {
  return {
    id: r.id,
    format: r.format,
    status: r.status,
    rowsRead: r.rows_read,
    rowsStored: r.rows_stored,
    rowsUnchanged: r.rows_unchanged,
    rowsFailed: r.rows_failed,
    error: r.error,
    startedAt: r.started_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

/** The import's row errors in row order, a page after `afterRow`. */
export async function importErrors(
  q: Queryable,
  id: string,
  page: { limit: number; afterRow?: number },
): Promise<RowError[]> {
  const { rows } = await q.query<RowError>(
    'SELECT row_number AS row, field, message FROM contact_import_errors WHERE import_id = $1 AND row_number > $2 ORDER BY row_number, field LIMIT $3',
    [id, page.afterRow ?? 0, page.limit],
  );
  return rows;
}
