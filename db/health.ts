/** Whether Postgres answers at all: the health probe's question, asked through the pool the API uses. */
import type { Queryable } from './pool';

export async function pingDatabase(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}
