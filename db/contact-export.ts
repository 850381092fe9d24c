/**
 * Everything held about a person (GDPR access and portability), read in ONE read-only
 * snapshot: every row of every table keyed by contact id (whichever module owns it, so a
 * table added later is exported without a change here), the delivery history of their
 * messages, and the suppressions of their addresses. Rows come through a server-side cursor a
 * page at a time, so a contact with a million events is exported in constant memory.
 */
import type pg from 'pg';
import { contactKeyedTables } from './contact-erase';
import type { Db } from './pool';

const PAGE = 1_000;

/** How a table's rows are ordered in the export (others: as stored). */
const ORDER: Record<string, string> = {
  events: 'occurred_at, id',
  messages: 'created_at, id',
  journeys: 'started_at, id',
};

export interface ExportSink {
  /** A new section: the table's name. */
  section(name: string): Promise<void>;
  rows(rows: unknown[]): Promise<void>;
}

async function drain(client: pg.PoolClient, sql: string, params: unknown[], sink: ExportSink): Promise<void> {
  await client.query(`DECLARE export_rows NO SCROLL CURSOR FOR ${sql}`, params);
  for (;;) {
    const { rows } = await client.query<{ row: unknown }>(`FETCH ${PAGE} FROM export_rows`);
    if (rows.length) await sink.rows(rows.map((r) => r.row));
    if (rows.length < PAGE) break;
  }
  await client.query('CLOSE export_rows');
}

/** Streams every table's rows for these ids into the sink, in one repeatable-read snapshot. */
export async function exportContactData(db: Db, ids: string[], sink: ExportSink): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // A slow reader must not be cut off by the statement timeout of one large page.
    await client.query("SET LOCAL statement_timeout = '60s'");
    for (const table of await contactKeyedTables(client)) {
      await sink.section(table);
      await drain(
        client,
        `SELECT to_jsonb(t) AS row FROM ${table} t WHERE contact_id = ANY($1) ${ORDER[table] ? `ORDER BY ${ORDER[table]}` : ''}`,
        [ids],
        sink,
      );
    }
    await sink.section('contacts');
    await drain(client, 'SELECT to_jsonb(c) AS row FROM contacts c WHERE id = ANY($1) ORDER BY id', [ids], sink);
    await sink.section('message_events');
    await drain(
      client,
      'SELECT to_jsonb(e) AS row FROM message_events e WHERE message_id IN (SELECT id FROM messages WHERE contact_id = ANY($1)) ORDER BY occurred_at, id',
      [ids],
      sink,
    );
    await sink.section('suppressions');
    await drain(
      client,
      `SELECT to_jsonb(s) AS row FROM suppressions s WHERE (s.channel = 'email' AND s.address IN (SELECT lower(email) FROM contacts WHERE id = ANY($1)))
          OR (s.channel = 'sms' AND s.address IN (SELECT phone FROM contacts WHERE id = ANY($1)))`,
      [ids],
      sink,
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
