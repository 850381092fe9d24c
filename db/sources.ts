/**
 * Repository of generic webhook sources: one row per source, its validated configuration as JSON, with its secrets
 * only as a hash (URL token) or encrypted (HMAC secret, fetch bearer token): connectors/source-secrets.ts.
 */
import { sealLegacySecrets, type StoredSourceConfig } from '../connectors/source-secrets';
import type pg from 'pg';
import type { Queryable } from './pool';

export interface StoredSource {
  id: string;
  config: StoredSourceConfig;
  createdAt: string;
  updatedAt: string;
}

interface SourceRow {
  id: string;
  config: StoredSourceConfig;
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
  config: StoredSourceConfig,
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

/**
 * Sources saved before their secrets were encrypted (migration 035 hashed their URL tokens in SQL; an HMAC secret
 * or a bearer token needs SECRETS_KEY, which never reaches the database): sealed here, by `npm run migrate`. Returns
 * how many were sealed; without a key while some remain, fails saying what to do.
 */
export async function sealPlainSourceSecrets(
  q: Pick<pg.ClientBase, 'query'>,
  key: Buffer | undefined,
): Promise<number> {
  const { rows } = await q.query<{ id: string; config: Record<string, unknown> }>(
    `SELECT id, config FROM sources
      WHERE config->'auth' ? 'secret' OR config->'fetch' ? 'bearerToken' ORDER BY id FOR UPDATE`,
  );
  if (rows.length === 0) return 0;
  if (!key)
    throw new Error(
      `${rows.length} source(s) still hold an HMAC secret or bearer token in plain text (${rows
        .slice(0, 5)
        .map((r) => r.id)
        .join(', ')}): set SECRETS_KEY (32 random bytes, base64) and run \`npm run migrate\` again to encrypt them`,
    );
  for (const row of rows)
    await q.query('UPDATE sources SET config = $2, updated_at = now() WHERE id = $1', [
      row.id,
      JSON.stringify(sealLegacySecrets(row.id, row.config, key)),
    ]);
  return rows.length;
}
