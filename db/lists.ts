/**
 * Static lists and their members. Every join and leave is one membership period
 * (`list_memberships`) and one stored `List Joined` / `List Left` event, written by the same
 * statement: the router loop routes the event to flows, and a change that did not happen (a
 * repeated join, a leave of a non-member) stores no event.
 */
import { LIST_DELETED_SOURCE, LIST_EVENTS, listEventMessagePrefix } from '../audiences/list-events';
import { hasListChanges, type ListChanges } from '../audiences/list-traits';
import type { Queryable } from './pool';

export interface List {
  id: string;
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ListWithCount extends List {
  memberCount: number;
}

interface ListRow {
  id: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

const toList = (r: ListRow): List => ({
  id: r.id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Creates the list; undefined when the id is taken. */
export async function createList(
  q: Queryable,
  list: { id: string; name: string; description?: string },
): Promise<List | undefined> {
  const { rows } = await q.query<ListRow>(
    'INSERT INTO lists (id, name, description) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING *',
    [list.id, list.name, list.description ?? null],
  );
  return rows[0] && toList(rows[0]);
}

/**
 * `lock: 'share'` keeps the list from being deleted until the transaction ends (members
 * joining); `'update'` is the deletion's own lock.
 */
export async function getList(
  q: Queryable,
  id: string,
  opts: { lock?: 'share' | 'update' } = {},
): Promise<List | undefined> {
  const lock = opts.lock === 'share' ? ' FOR SHARE' : opts.lock === 'update' ? ' FOR UPDATE' : '';
  const { rows } = await q.query<ListRow>(`SELECT * FROM lists WHERE id = $1${lock}`, [id]);
  return rows[0] && toList(rows[0]);
}

const COUNTED = `SELECT l.*, (SELECT count(*) FROM list_memberships m WHERE m.list_id = l.id AND m.left_at IS NULL)::int AS member_count FROM lists l`;

export async function listLists(q: Queryable): Promise<ListWithCount[]> {
  const { rows } = await q.query<ListRow & { member_count: number }>(`${COUNTED} ORDER BY l.id`);
  return rows.map((r) => ({ ...toList(r), memberCount: r.member_count }));
}

/** Those of `ids` that name a list. */
export async function knownListIds(q: Queryable, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await q.query<{ id: string }>('SELECT id FROM lists WHERE id = ANY($1)', [ids]);
  return new Set(rows.map((r) => r.id));
}

export async function getListWithCount(q: Queryable, id: string): Promise<ListWithCount | undefined> {
  const { rows } = await q.query<ListRow & { member_count: number }>(`${COUNTED} WHERE l.id = $1`, [id]);
  return rows[0] && { ...toList(rows[0]), memberCount: rows[0].member_count };
}

/** Renames or re-describes the list (`description: null` clears it); undefined when it does not exist. */
export async function updateList(
  q: Queryable,
  id: string,
  change: { name?: string; description?: string | null },
): Promise<List | undefined> {
  const { rows } = await q.query<ListRow>(
    `UPDATE lists SET name = COALESCE($2, name), description = CASE WHEN $3 THEN $4 ELSE description END, updated_at = now()
     WHERE id = $1 RETURNING *`,
    [id, change.name ?? null, change.description !== undefined, change.description ?? null],
  );
  return rows[0] && toList(rows[0]);
}

/**
 * Deletes the list inside the caller's transaction: its members leave first (a `List Left`
 * event each, source `list_deleted`), then the list and its membership history go. Returns
 * how many members left, or undefined when there was no such list.
 */
export async function deleteList(tx: Queryable, id: string): Promise<{ membersLeft: number } | undefined> {
  const list = await getList(tx, id, { lock: 'update' });
  if (!list) return undefined;
  const left = await leaveList(tx, list, undefined, LIST_DELETED_SOURCE);
  await tx.query('DELETE FROM lists WHERE id = $1', [id]);
  return { membersLeft: left.length };
}

// The event row of a membership change, built in SQL from the changed periods (`changed`):
// one statement changes memberships and stores their events, so neither exists without the
// other, and a whole list's members leave in one statement. The row is the one insertEvent
// writes with `routeWithinMs: 0` (due for the router loop at once); with issue 8's set-based
// `insertEvents` merged, this can become RETURNING + insertEvents in the same transaction.
const storeEvents = (direction: 'joined' | 'left', at: 'joined_at' | 'left_at') => `
  stored AS (
    INSERT INTO events (message_id, type, contact_id, name, properties, context, occurred_at, next_route_at)
    SELECT '${listEventMessagePrefix(direction)}' || id, 'track', contact_id, '${LIST_EVENTS[direction]}',
           jsonb_build_object('list_id', $1::text, 'list_name', $2::text, 'source', $3::text),
           jsonb_build_object('membershipId', id), ${at}, now()
    FROM changed
    ON CONFLICT (message_id) DO NOTHING
  )`;

/**
 * The contacts join the list (contacts must exist; the caller locked the list with
 * `getList(..., { lock: 'share' })`). Members already on it are left alone. Returns the
 * contacts that joined.
 */
export async function joinList(
  tx: Queryable,
  list: Pick<List, 'id' | 'name'>,
  contactIds: string[],
  source: string,
): Promise<string[]> {
  if (contactIds.length === 0) return [];
  const { rows } = await tx.query<{ contact_id: string }>(
    `WITH changed AS (
       INSERT INTO list_memberships (list_id, contact_id, source)
       SELECT $1, c, $3 FROM unnest($4::text[]) AS c ORDER BY c
       ON CONFLICT (list_id, contact_id) WHERE left_at IS NULL DO NOTHING
       RETURNING id, contact_id, joined_at
     ), ${storeEvents('joined', 'joined_at')}
     SELECT contact_id FROM changed`,
    [list.id, list.name, source, [...new Set(contactIds)]],
  );
  return rows.map((r) => r.contact_id);
}

/** The contacts (every member when undefined) leave the list; returns those that were members. */
export async function leaveList(
  tx: Queryable,
  list: Pick<List, 'id' | 'name'>,
  contactIds: string[] | undefined,
  source: string,
): Promise<string[]> {
  if (contactIds?.length === 0) return [];
  const { rows } = await tx.query<{ contact_id: string }>(
    `WITH changed AS (
       UPDATE list_memberships SET left_at = now(), left_source = $3
       WHERE list_id = $1 AND left_at IS NULL AND ($4::text[] IS NULL OR contact_id = ANY($4))
       RETURNING id, contact_id, left_at
     ), ${storeEvents('left', 'left_at')}
     SELECT contact_id FROM changed`,
    [list.id, list.name, source, contactIds ? [...new Set(contactIds)] : null],
  );
  return rows.map((r) => r.contact_id);
}

export interface ListChangeOutcome {
  joined: string[];
  left: string[];
  /** Named lists that do not exist: ignored. */
  unknown: string[];
}

/**
 * Applies the list changes an identify (or a connector) carries, inside the caller's
 * transaction, for a contact that exists. A list named both to join and to leave is left.
 */
export async function applyListChanges(
  tx: Queryable,
  contactId: string,
  changes: ListChanges,
  source: string,
): Promise<ListChangeOutcome> {
  const outcome: ListChangeOutcome = { joined: [], left: [], unknown: [] };
  if (!hasListChanges(changes)) return outcome;
  const leave = new Set(changes.leave);
  const join = changes.join.filter((id) => !leave.has(id));
  const ids = [...new Set([...join, ...leave])].sort();
  // Shared locks in id order: a concurrent deletion waits, and two identifies never wait on each other in a circle.
  const { rows } = await tx.query<ListRow>('SELECT * FROM lists WHERE id = ANY($1) ORDER BY id FOR SHARE', [ids]);
  const lists = new Map(rows.map((r) => [r.id, toList(r)]));
  outcome.unknown = ids.filter((id) => !lists.has(id));
  for (const id of join) {
    const list = lists.get(id);
    if (list && (await joinList(tx, list, [contactId], source)).length > 0) outcome.joined.push(id);
  }
  for (const id of leave) {
    const list = lists.get(id);
    if (list && (await leaveList(tx, list, [contactId], source)).length > 0) outcome.left.push(id);
  }
  return outcome;
}

export interface ListMember {
  contactId: string;
  email: string | null;
  joinedAt: string;
  source: string;
}

/**
 * Current members in the order they joined. The cursor is opaque to clients (the last
 * period's id): members joining meanwhile come after it, none is skipped or repeated.
 */
export async function listMembers(
  q: Queryable,
  listId: string,
  page: { after?: number; limit: number },
): Promise<{ members: ListMember[]; next?: number }> {
  const { rows } = await q.query<{
    id: number;
    contact_id: string;
    email: string | null;
    joined_at: Date;
    source: string;
  }>(
    `SELECT m.id, m.contact_id, c.email, m.joined_at, m.source
       FROM list_memberships m JOIN contacts c ON c.id = m.contact_id
      WHERE m.list_id = $1 AND m.left_at IS NULL AND m.id > $2
      ORDER BY m.id LIMIT $3`,
    [listId, page.after ?? 0, page.limit + 1],
  );
  const members = rows
    .slice(0, page.limit)
    .map((r) => ({ contactId: r.contact_id, email: r.email, joinedAt: r.joined_at.toISOString(), source: r.source }));
  return { members, ...(rows.length > page.limit ? { next: rows[page.limit - 1].id } : {}) };
}

export interface MembershipPeriod {
  joinedAt: string;
  source: string;
  leftAt: string | null;
  leftSource: string | null;
}

/** Every period the contact was on the list, oldest first. */
export async function membershipHistory(q: Queryable, listId: string, contactId: string): Promise<MembershipPeriod[]> {
  const { rows } = await q.query<{ joined_at: Date; source: string; left_at: Date | null; left_source: string | null }>(
    'SELECT joined_at, source, left_at, left_source FROM list_memberships WHERE list_id = $1 AND contact_id = $2 ORDER BY joined_at, id',
    [listId, contactId],
  );
  return rows.map((r) => ({
    joinedAt: r.joined_at.toISOString(),
    source: r.source,
    leftAt: r.left_at?.toISOString() ?? null,
    leftSource: r.left_source,
  }));
}

/** The lists the contact is on now: what a `{ list: '<id>' }` condition asks. */
export async function listIdsOf(q: Queryable, contactId: string): Promise<string[]> {
  const { rows } = await q.query<{ list_id: string }>(
    'SELECT list_id FROM list_memberships WHERE contact_id = $1 AND left_at IS NULL ORDER BY list_id',
    [contactId],
  );
  return rows.map((r) => r.list_id);
}

/** The lists the contact is on now, with when and how each membership started (profiles, exports). */
export async function listMembershipsOf(
  q: Queryable,
  contactId: string,
): Promise<{ listId: string; listName: string; joinedAt: string; source: string }[]> {
  const { rows } = await q.query<{ list_id: string; name: string; joined_at: Date; source: string }>(
    `SELECT m.list_id, l.name, m.joined_at, m.source FROM list_memberships m JOIN lists l ON l.id = m.list_id
      WHERE m.contact_id = $1 AND m.left_at IS NULL ORDER BY m.list_id`,
    [contactId],
  );
  return rows.map((r) => ({
    listId: r.list_id,
    listName: r.name,
    joinedAt: r.joined_at.toISOString(),
    source: r.source,
  }));
}

/**
 * Contact merge (anonymous → known, both rows locked by the caller): the merged contact's
 * memberships move to the known one. Where both are on a list, the membership that started
 * first remains; the other period closes now with source `merged` (the history keeps it) and
 * stores no event: the person was on the list all along.
 */
export async function moveListMemberships(tx: Queryable, from: string, into: string): Promise<void> {
  await tx.query(
    `UPDATE list_memberships m SET left_at = now(), left_source = 'merged'
       FROM list_memberships first
      WHERE m.contact_id = ANY($1) AND m.left_at IS NULL
        AND first.list_id = m.list_id AND first.contact_id = ANY($1) AND first.contact_id <> m.contact_id AND first.left_at IS NULL
        AND (first.joined_at, first.id) < (m.joined_at, m.id)`,
    [[from, into]],
  );
  await tx.query('UPDATE list_memberships SET contact_id = $2 WHERE contact_id = $1', [from, into]);
}

/** Contacts by email, creating those not known: an unknown address becomes a contact whose id is the address. */
export async function contactsByEmail(
  tx: Queryable,
  emails: string[],
): Promise<{ byEmail: Map<string, string>; created: string[] }> {
  const wanted = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
  if (wanted.length === 0) return { byEmail: new Map(), created: [] };
  // Several contacts may share an address: the one updated last is taken.
  const known = await tx.query<{ email: string; id: string }>(
    'SELECT DISTINCT ON (email) email, id FROM contacts WHERE email = ANY($1) ORDER BY email, updated_at DESC, id',
    [wanted],
  );
  const byEmail = new Map(known.rows.map((r) => [r.email, r.id]));
  const missing = wanted.filter((e) => !byEmail.has(e));
  const created: string[] = [];
  if (missing.length > 0) {
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO contacts (id, email, traits) SELECT e, e, jsonb_build_object('email', e) FROM unnest($1::text[]) AS e ORDER BY e
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [missing],
    );
    created.push(...inserted.rows.map((r) => r.id));
    for (const e of missing) byEmail.set(e, e);
  }
  return { byEmail, created };
}

/** Contacts by id, created empty when not known (like an identify's first call); returns the ids created. */
export async function ensureContacts(tx: Queryable, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    'INSERT INTO contacts (id) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (id) DO NOTHING RETURNING id',
    [[...new Set(ids)]],
  );
  return rows.map((r) => r.id);
}
