/**
 * Batches of calls that only add events are stored in one statement (services/event-store.ts,
 * db/events.ts insertNewEvents). What a client notices must not change: every item's outcome,
 * duplicates (stored before, repeated in the batch), contacts resolved through merges, and an
 * event never left on a contact merged away while the batch waited for its lock.
 */
import type { PoolClient } from 'pg';
import { mergeContacts } from '../db/contact-merge';
import { upsertContact } from '../db/contacts';
import { inTransaction } from '../db/pool';
import { Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start({ runWorker: false });
});
afterAll(() => h?.stop());

const view = (id: string, messageId: string, extra: Record<string, unknown> = {}) => ({
  type: 'track',
  ...(id.startsWith('anonymous:') ? { anonymousId: id.slice(10) } : { userId: id }),
  event: 'Product Viewed',
  messageId,
  properties: { sku: messageId },
  ...extra,
});
const postBatch = (batch: unknown[]) => h.http('post', '/v1/batch').send({ batch });
const eventsOf = async (contactId: string) =>
  (
    await h.db.query<{ message_id: string }>('SELECT message_id FROM events WHERE contact_id = $1 ORDER BY id', [
      contactId,
    ])
  ).rows.map((r) => r.message_id);

type Outcome = { index: number; messageId: string; outcome: string; eventId?: number; contactId?: string };

test('outcomes in order: stored, stored before, repeated in the batch, rejected; ids follow the batch order', async () => {
  const first = await postBatch([view('fs-ann', 'fs-1')]);
  expect(first.status).toBeLessThan(300);
  const earlierId = (first.body.results as Outcome[])[0].eventId;

  const res = await postBatch([
    view('fs-ann', 'fs-2'),
    view('fs-ann', 'fs-1'),
    view('fs-bob', 'fs-3'),
    view('fs-ann', 'fs-2'),
    { type: 'track', userId: 'fs-ann' },
    view('fs-bob', 'fs-4'),
  ]);
  const results = res.body.results as Outcome[];
  expect(results.map((r) => [r.messageId ?? null, r.outcome])).toEqual([
    ['fs-2', 'stored'],
    ['fs-1', 'duplicate'],
    ['fs-3', 'stored'],
    ['fs-2', 'duplicate'],
    [null, 'rejected'],
    ['fs-4', 'stored'],
  ]);
  expect(results[1]).toMatchObject({ eventId: earlierId, contactId: 'fs-ann' });
  expect(results[3].eventId).toBe(results[0].eventId);
  expect(results[0].eventId! < results[2].eventId! && results[2].eventId! < results[5].eventId!).toBe(true);
  expect(await eventsOf('fs-ann')).toEqual(['fs-1', 'fs-2']);
  expect(await eventsOf('fs-bob')).toEqual(['fs-3', 'fs-4']);
  const contacts = await h.db.query("SELECT id FROM contacts WHERE id IN ('fs-ann', 'fs-bob') ORDER BY id");
  expect(contacts.rows).toEqual([{ id: 'fs-ann' }, { id: 'fs-bob' }]);
});

test('an anonymous id merged before lands on the known contact', async () => {
  await inTransaction(h.db, (tx) => mergeContacts(tx, 'anonymous:fs-visitor', 'fs-carl'));
  const res = await postBatch([view('anonymous:fs-visitor', 'fs-5')]);
  expect((res.body.results as Outcome[])[0]).toMatchObject({ outcome: 'stored', contactId: 'fs-carl' });
  expect(await eventsOf('fs-carl')).toEqual(['fs-5']);
});

/** Waits until a backend waits for a lock (the batch blocked behind the open merge). */
async function someoneWaitsForALock(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await h.db.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the batch never waited for the merge');
}

/** A merge held open while a batch for the anonymous id arrives; committed once the batch waits for it. */
async function batchDuringMerge(anonymous: string, known: string, messageId: string) {
  const mergeTx: PoolClient = await h.db.connect();
  try {
    await mergeTx.query('BEGIN');
    await mergeContacts(mergeTx, anonymous, known);
    const answer = postBatch([view(anonymous, messageId), view('fs-other', `${messageId}-other`)]).then((r) => r);
    await someoneWaitsForALock();
    await mergeTx.query('COMMIT');
    return await answer;
  } finally {
    mergeTx.release();
  }
}

test('a merge committed while the batch waited for the anonymous contact (which existed): the event lands on the known contact', async () => {
  await upsertContact(h.db, 'anonymous:fs-v1', {});
  const res = await batchDuringMerge('anonymous:fs-v1', 'fs-dora', 'fs-6');
  expect((res.body.results as Outcome[]).map((r) => [r.outcome, r.contactId])).toEqual([
    ['stored', 'fs-dora'],
    ['stored', 'fs-other'],
  ]);
  expect(await eventsOf('fs-dora')).toEqual(['fs-6']);
  expect(await eventsOf('anonymous:fs-v1')).toEqual([]);
});

test('a merge committed while the batch waited to create the anonymous contact (new to us): the event lands on the known contact', async () => {
  const res = await batchDuringMerge('anonymous:fs-v2', 'fs-emma', 'fs-7');
  expect((res.body.results as Outcome[]).map((r) => [r.outcome, r.contactId])).toEqual([
    ['stored', 'fs-emma'],
    ['stored', 'fs-other'],
  ]);
  expect(await eventsOf('fs-emma')).toEqual(['fs-7']);
  expect(await eventsOf('anonymous:fs-v2')).toEqual([]);
});
