/**
 * Static lists against the real servers: CRUD with 400s naming the field and 404s; bulk adds
 * that are idempotent (one `List Joined` event per real join); membership history across a
 * leave and a re-join; a flow triggered by `List Joined` sending its welcome email once; a
 * deleted list whose members leave; identify traits; contact merge; no 5xx on bad input.
 */
import fc from 'fast-check';
import supertest from 'supertest';
import { LIST_EVENTS } from '../audiences/list-events';
import { listChangesFromTraits, listSourceOf, withoutListTraits } from '../audiences/list-traits';
import { applyListChanges, listIdsOf, moveListMemberships, membershipHistory } from '../db/lists';
import { inTransaction } from '../db/pool';
import { waitFor } from './helpers/fake-http';
import { API_KEY, Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const api = (method: 'get' | 'post' | 'patch' | 'delete', path: string) =>
  supertest(h.app)[method](path).set('Authorization', `Bearer ${API_KEY}`);

async function createList(id: string, name = id) {
  const res = await api('post', '/v1/lists').send({ id, name });
  expect(res.status).toBe(201);
}

async function add(listId: string, contacts: ({ contactId: string } | { email: string })[], source?: string) {
  const res = await api('post', `/v1/lists/${listId}/members`).send({ contacts, ...(source ? { source } : {}) });
  expect(res.status).toBe(200);
  return res.body as {
    joined: number;
    alreadyMembers: number;
    contactsCreated: number;
    members: { index: number; contactId: string; status: string }[];
  };
}

const listEvents = async (contactId: string) =>
  (
    await h.db.query<{ name: string; properties: Record<string, unknown> }>(
      `SELECT name, properties FROM events WHERE contact_id = $1 AND name = ANY($2) ORDER BY id`,
      [contactId, [LIST_EVENTS.joined, LIST_EVENTS.left]],
    )
  ).rows;

describe('lists CRUD', () => {
  test('create, read with member counts, rename, and the errors name the field', async () => {
    const created = await api('post', '/v1/lists').send({ id: 'crud', name: 'Crud', description: 'for the test' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'crud', name: 'Crud', description: 'for the test', memberCount: 0 });

    const again = await api('post', '/v1/lists').send({ id: 'crud', name: 'Other' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_exists');

    const badId = await api('post', '/v1/lists').send({ id: 'Not A Slug', name: 'x' });
    expect(badId.status).toBe(400);
    expect(badId.body.error.issues.map((i: { path: unknown[] }) => i.path)).toEqual([['id']]);

    const noName = await api('post', '/v1/lists').send({ id: 'no-name', name: '  ' });
    expect(noName.status).toBe(400);
    expect(noName.body.error.issues[0].path).toEqual(['name']);

    const extra = await api('post', '/v1/lists').send({ id: 'extra', name: 'x', colour: 'red' });
    expect(extra.status).toBe(400);

    await add('crud', [{ contactId: 'crud-1' }, { contactId: 'crud-2' }]);
    expect((await api('get', '/v1/lists/crud')).body.memberCount).toBe(2);
    const all = await api('get', '/v1/lists');
    expect(all.status).toBe(200);
    expect(all.body.lists.find((l: { id: string }) => l.id === 'crud')).toMatchObject({ name: 'Crud', memberCount: 2 });

    const renamed = await api('patch', '/v1/lists/crud').send({ name: 'Renamed', description: null });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id: 'crud', name: 'Renamed', description: null });
    expect((await api('get', '/v1/lists/crud')).body.name).toBe('Renamed');

    const emptyPatch = await api('patch', '/v1/lists/crud').send({});
    expect(emptyPatch.status).toBe(400);
    expect(emptyPatch.body.error.issues[0].message).toMatch(/name or description/);
    const badName = await api('patch', '/v1/lists/crud').send({ name: 42 });
    expect(badName.status).toBe(400);
    expect(badName.body.error.issues[0].path).toEqual(['name']);

    for (const [method, path] of [
      ['get', '/v1/lists/nope'],
      ['delete', '/v1/lists/nope'],
      ['get', '/v1/lists/nope/members'],
      ['get', '/v1/lists/nope/members/someone'],
      ['delete', '/v1/lists/nope/members/someone'],
    ] as const) {
      const res = await api(method, path);
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({
        path,
        status: 404,
        code: 'not_found',
      });
    }
    expect((await api('patch', '/v1/lists/nope').send({ name: 'x' })).status).toBe(404);
    expect((await api('post', '/v1/lists/nope/members').send({ contacts: [{ contactId: 'a' }] })).status).toBe(404);
  });
});

describe('members', () => {
  test('a bulk add is idempotent: a repeat joins no one and stores no second event', async () => {
    await createList('bulk');
    await h.identify('known-by-email', { email: 'Known@Example.com' });

    const first = await add(
      'bulk',
      [
        { contactId: 'bulk-1' },
        { email: 'known@example.com' },
        { email: 'new.person@example.com' },
        { contactId: 'bulk-1' },
      ],
      'import',
    );
    expect(first).toMatchObject({ joined: 3, alreadyMembers: 1, contactsCreated: 2 });
    expect(first.members).toEqual([
      { index: 0, contactId: 'bulk-1', status: 'joined' },
      { index: 1, contactId: 'known-by-email', status: 'joined' },
      { index: 2, contactId: 'new.person@example.com', status: 'joined' },
      { index: 3, contactId: 'bulk-1', status: 'already_member' },
    ]);
    // The unknown address became a contact with that address.
    const created = await api('get', `/v1/contacts/${encodeURIComponent('new.person@example.com')}`);
    expect(created.body.email).toBe('new.person@example.com');

    const repeat = await add('bulk', [
      { contactId: 'bulk-1' },
      { email: 'KNOWN@example.com' },
      { email: 'new.person@example.com' },
    ]);
    expect(repeat).toMatchObject({ joined: 0, alreadyMembers: 3, contactsCreated: 0 });

    for (const id of ['bulk-1', 'known-by-email', 'new.person@example.com']) {
      expect(await listEvents(id)).toEqual([
        { name: 'List Joined', properties: { list_id: 'bulk', list_name: 'bulk', source: 'import' } },
      ]);
    }
    expect((await api('get', '/v1/lists/bulk')).body.memberCount).toBe(3);
  });

  test('two bulk adds of the same contacts at once: each contact joins once, with one event', async () => {
    await createList('racing');
    const contacts = Array.from({ length: 50 }, (_, i) => ({ contactId: `race-${i}` }));
    const answers = await Promise.all([
      add('racing', contacts),
      add('racing', [...contacts].reverse()),
      add('racing', contacts),
    ]);
    expect(answers.reduce((n, a) => n + a.joined, 0)).toBe(50);
    const events = await h.db.query(
      "SELECT count(*)::int AS n FROM events WHERE name = 'List Joined' AND properties->>'list_id' = 'racing'",
    );
    expect(events.rows[0].n).toBe(50);
    expect((await api('get', '/v1/lists/racing')).body.memberCount).toBe(50);
  });

  test('bad members are a 400 naming the item and field', async () => {
    await createList('strict');
    const cases: [unknown, (string | number)[]][] = [
      [{ contacts: [{ contactId: 'ok' }, { email: 'not-an-email' }] }, ['contacts', 1, 'email']],
      [{ contacts: [{ contactId: 'ok' }, {}] }, ['contacts', 1]],
      [{ contacts: [{ contactId: 'a', email: 'a@example.com' }] }, ['contacts', 0]],
      [{ contacts: [] }, ['contacts']],
      [{ contacts: Array.from({ length: 1001 }, (_, i) => ({ contactId: `c${i}` })) }, ['contacts']],
      [{ contacts: [{ contactId: 'ok' }], source: 'Not OK' }, ['source']],
      [{ contacts: [{ contactId: 'x'.repeat(300) }] }, ['contacts', 0, 'contactId']],
    ];
    for (const [body, path] of cases) {
      const res = await api('post', '/v1/lists/strict/members').send(body as object);
      expect({ status: res.status, paths: res.body.error.issues.map((i: { path: unknown[] }) => i.path) }).toEqual({
        status: 400,
        paths: [path],
      });
    }
    expect((await api('get', '/v1/lists/strict')).body.memberCount).toBe(0);
  });

  test('leaving keeps the period; joining again opens a new one, each with its own event', async () => {
    await createList('history');
    await add('history', [{ contactId: 'hist' }]);

    const left = await api('delete', '/v1/lists/history/members/hist?source=preference_page');
    expect(left.body).toEqual({ listId: 'history', contactId: 'hist', left: true });
    // Leaving twice: nothing happens, and it says so.
    expect((await api('delete', '/v1/lists/history/members/hist')).body.left).toBe(false);
    expect(await listIdsOf(h.db, 'hist')).toEqual([]);

    expect((await api('delete', '/v1/lists/history/members/hist?source=Bad%20One')).status).toBe(400);
    await add('history', [{ contactId: 'hist' }], 'shopify');
    const history = await api('get', '/v1/lists/history/members/hist');
    expect(history.body.member).toBe(true);
    expect(history.body.periods).toHaveLength(2);
    expect(history.body.periods[0]).toMatchObject({ source: 'api', leftSource: 'preference_page' });
    expect(history.body.periods[0].leftAt).not.toBeNull();
    expect(history.body.periods[1]).toMatchObject({ source: 'shopify', leftAt: null, leftSource: null });
    expect(Date.parse(history.body.periods[1].joinedAt)).toBeGreaterThanOrEqual(
      Date.parse(history.body.periods[0].leftAt),
    );

    expect((await listEvents('hist')).map((e) => `${e.name}/${e.properties.source}`)).toEqual([
      'List Joined/api',
      'List Left/preference_page',
      'List Joined/shopify',
    ]);
    expect(await listIdsOf(h.db, 'hist')).toEqual(['history']);
  });

  test('members are paged with a cursor: every member once, in the order they joined', async () => {
    await createList('paged');
    const ids = Array.from({ length: 25 }, (_, i) => `paged-${String(i).padStart(2, '0')}`);
    await add(
      'paged',
      ids.slice(0, 10).map((contactId) => ({ contactId })),
    );
    await add(
      'paged',
      ids.slice(10).map((contactId) => ({ contactId })),
    );
    await api('delete', '/v1/lists/paged/members/paged-03');

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await api('get', `/v1/lists/paged/members?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.members.map((m: { contactId: string }) => m.contactId));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids.filter((id) => id !== 'paged-03'));

    for (const query of [
      'limit=0',
      'limit=1001',
      'limit=x',
      'cursor=abc',
      'cursor=-1',
      'cursor=1&cursor=2',
      'other=1',
    ]) {
      const res = await api('get', `/v1/lists/paged/members?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.error.issues.length).toBeGreaterThan(0);
    }
  });
});

describe('flows', () => {
  test('joining a list starts the flow triggered on List Joined for that list: one welcome email, even when the join is repeated', async () => {
    await createList('newsletter', 'Newsletter');
    await createList('vip', 'VIP');
    await h.putFlow('welcome', {
      name: 'Welcome to the newsletter',
      status: 'live',
      trigger: { event: LIST_EVENTS.joined, where: [{ property: 'list_id', op: 'equals', value: 'newsletter' }] },
      smartSending: { enabled: false },
      steps: [
        { id: 'welcome', type: 'email', subject: 'Welcome to {{ event.properties.list_name }}', html: '<p>Hello</p>' },
      ],
    });
    await h.identify('reader', { email: 'reader@example.com' });

    await add('vip', [{ contactId: 'reader' }]);
    await add('newsletter', [{ contactId: 'reader' }]);
    await h.journeyStarted('welcome', 'reader');
    expect((await h.result('welcome', 'reader')).status).toBe('completed');
    // Joined again (already a member) and joined by traits too: no second event, no second journey.
    await add('newsletter', [{ contactId: 'reader' }, { email: 'reader@example.com' }]);
    await inTransaction(h.db, (tx) =>
      applyListChanges(tx, 'reader', listChangesFromTraits({ lists: { newsletter: true } }), 'identify'),
    );

    // The router loop has routed everything stored so far.
    await waitFor(
      async () =>
        (await h.db.query("SELECT 1 FROM events WHERE contact_id = 'reader' AND routed_at IS NULL")).rowCount === 0,
      'events routed',
    );
    const welcomes = h.sendgrid.emails.filter((e) => e.to === 'reader@example.com');
    expect(welcomes.map((e) => e.subject)).toEqual(['Welcome to Newsletter']);
    const journeys = await h.db.query("SELECT 1 FROM journeys WHERE contact_id = 'reader' AND flow_id = 'welcome'");
    expect(journeys.rowCount).toBe(1);
    expect((await listEvents('reader')).map((e) => e.properties.list_id)).toEqual(['vip', 'newsletter']);
  });

  test('deleting a list makes its members leave (List Left, source list_deleted) and the list is gone', async () => {
    await createList('doomed', 'Doomed');
    await add('doomed', [{ contactId: 'doomed-1' }, { contactId: 'doomed-2' }]);
    await api('delete', '/v1/lists/doomed/members/doomed-2');

    const res = await api('delete', '/v1/lists/doomed');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: 'doomed', deleted: true, membersLeft: 1 });
    expect((await api('get', '/v1/lists/doomed')).status).toBe(404);
    expect((await api('get', '/v1/lists')).body.lists.map((l: { id: string }) => l.id)).not.toContain('doomed');
    expect(await listIdsOf(h.db, 'doomed-1')).toEqual([]);
    expect((await listEvents('doomed-1')).map((e) => [e.name, e.properties])).toEqual([
      ['List Joined', { list_id: 'doomed', list_name: 'Doomed', source: 'api' }],
      ['List Left', { list_id: 'doomed', list_name: 'Doomed', source: 'list_deleted' }],
    ]);
    // doomed-2 had left already: one leave only.
    expect((await listEvents('doomed-2')).map((e) => e.properties.source)).toEqual(['api', 'api']);
    // The id can be used again, for a new empty list.
    await createList('doomed');
    expect((await api('get', '/v1/lists/doomed')).body.memberCount).toBe(0);
  });
});

describe('identify traits and contact merge', () => {
  test('traits { lists: { id: true | false } } join and leave; unknown lists and other values are ignored', async () => {
    expect(listChangesFromTraits({ lists: { a: true, b: false, c: 'yes', d: null } })).toEqual({
      join: ['a'],
      leave: ['b'],
    });
    expect(listChangesFromTraits({ lists: ['a'] })).toEqual({ join: [], leave: [] });
    expect(listChangesFromTraits({ email: 'x@example.com' })).toEqual({ join: [], leave: [] });
    expect(withoutListTraits({ email: 'x', lists: { a: true } })).toEqual({ email: 'x' });
    expect([
      listSourceOf({ source: { name: 'shopify', topic: 'customers/update' } }),
      listSourceOf({}),
      listSourceOf({ source: 'Odd Name' }),
    ]).toEqual(['shopify', 'identify', 'identify']);

    await createList('traits-a');
    await createList('traits-b');
    await h.identify('by-traits', { email: 'traits@example.com' });
    await add('traits-b', [{ contactId: 'by-traits' }]);
    const outcome = await inTransaction(h.db, (tx) =>
      applyListChanges(
        tx,
        'by-traits',
        listChangesFromTraits({ lists: { 'traits-a': true, 'traits-b': false, 'no-such-list': true } }),
        'identify',
      ),
    );
    expect(outcome).toEqual({ joined: ['traits-a'], left: ['traits-b'], unknown: ['no-such-list'] });
    expect(await listIdsOf(h.db, 'by-traits')).toEqual(['traits-a']);
    expect(
      (await listEvents('by-traits')).map((e) => `${e.name}:${e.properties.list_id}:${e.properties.source}`),
    ).toEqual(['List Joined:traits-b:api', 'List Joined:traits-a:identify', 'List Left:traits-b:identify']);
  });

  test('a merge moves memberships; a list both were on keeps the earliest join', async () => {
    await createList('merge-both');
    await createList('merge-anon');
    await add('merge-both', [{ contactId: 'anon-m' }]);
    await add('merge-both', [{ contactId: 'known-m' }]);
    await add('merge-anon', [{ contactId: 'anon-m' }]);
    const [anonJoin] = await membershipHistory(h.db, 'merge-both', 'anon-m');

    await inTransaction(h.db, (tx) => moveListMemberships(tx, 'anon-m', 'known-m'));
    expect(await listIdsOf(h.db, 'known-m')).toEqual(['merge-anon', 'merge-both']);
    expect(await listIdsOf(h.db, 'anon-m')).toEqual([]);
    const periods = await membershipHistory(h.db, 'merge-both', 'known-m');
    expect(periods.filter((p) => p.leftAt === null)).toEqual([anonJoin]);
    expect(periods.find((p) => p.leftAt !== null)?.leftSource).toBe('merged');
    expect((await api('get', '/v1/lists/merge-both')).body.memberCount).toBe(1);
  });
});

test('malformed requests to the list routes: never a 5xx', async () => {
  await createList('fuzzed');
  const text = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('\u0000', 'a\u0000b', '\uD800', '', ' ', 'x'.repeat(300), 'fuzzed'),
  );
  const value: fc.Arbitrary<unknown> = fc.oneof(
    text,
    fc.integer(),
    fc.constant(null),
    fc.boolean(),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const member = fc.record(
    {
      contactId: value,
      email: fc.oneof(value, fc.constantFrom('a@example.com', 'A@EXAMPLE.COM ', 'a\u0000@example.com')),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.record({ id: value, name: value, description: value }, { requiredKeys: [] }),
    fc.record({ contacts: fc.oneof(fc.array(member, { maxLength: 4 }), value), source: value }, { requiredKeys: [] }),
    value,
  );
  const param = fc.oneof(
    fc.constantFrom('fuzzed', '%00', '%ED%A0%80', '%', 'x'.repeat(300)),
    fc.stringMatching(/^[a-z0-9_-]{1,10}$/),
  );
  const request = fc.record({
    method: fc.constantFrom('get', 'post', 'patch', 'delete') as fc.Arbitrary<'get' | 'post' | 'patch' | 'delete'>,
    path: fc
      .tuple(param, param, param)
      .chain(([a, b, c]) =>
        fc.constantFrom(
          '/v1/lists',
          `/v1/lists/${a}`,
          `/v1/lists/${a}/members?cursor=${c}&limit=${b}`,
          `/v1/lists/${a}/members/${b}`,
        ),
      ),
    body,
  });
  const failures: unknown[] = [];
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async ({ method, path, body: b }) => {
      const res = await api(method, path)
        .set('Content-Type', 'application/json')
        .send(JSON.stringify(b) ?? 'null');
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) failures.push({ method, path, body: b, status: res.status, answer: res.body });
    }),
    { numRuns: 300, seed: 9 },
  );
  expect(failures).toEqual([]);
  // The requests reached the handlers, not only the error paths.
  expect((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0)).toBeGreaterThan(10);
  expect(statuses.get(400) ?? 0).toBeGreaterThan(30);
});
