/** Repository of generic webhook sources: one row per source, its validated configuration as JSON. */
import type { SourceConfig } from '../connectors/source-config';
import type { Queryable } from './pool';

export interface StoredSource {
  id: string;
  config: SourceConfig;
  createdAt: string;
  updatedAt: string;
}

interface SourceRow {
  id: string;
  config: SourceConfig;
  created_at: Date;
  updated_at: Date;
}

const toSource = (row: SourceRow): StoredSource => ({
  id: row.id,
  config: row.config,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** Creates or replaces; `created` tells which, for a 201 or a 200. */
export async function putSource(
  q: Queryable,
  id: string,
  config: SourceConfig,
): Promise<{ source: StoredSource; created: boolean }> {
  const { rows } = await q.query<SourceRow & { inserted: boolean }>(
    `INSERT INTO sources (id, config) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()
     RETURNING *, (xmax = 0) AS inserted`,
    [id, JSON.stringify(config)],
  );
  return { source: toSource(rows[0]), created: rows[0].inserted };
}

export async function getSource(q: Queryable, id: string): Promise<StoredSource | undefined> {
  const { rows } = await q.query<SourceRow>('SELECT * FROM sources WHERE id = $1', [id]);
  return rows[0] ? toSource(rows[0]) : undefined;
}

export async function listSources(q: Queryable): Promise<StoredSource[]> {
  const { rows } = await q.query<SourceRow>('SELECT * FROM sources ORDER BY id');
  return rows.map(toSource);
}

export async function deleteSource(q: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await q.query('DELETE FROM sources WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}
