/** Saving flows: strict validation with exact paths, versions, and journeys that keep theirs. */
import { Harness } from './helpers/harness';
import { abandonedCart } from './fixtures/flows';
import type { FlowInput } from '../flows/schema';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const put = (id: string, body: unknown) => h.http('put', `/v1/flows/${id}`).send(body as object);
const withStep = (index: number, patch: Record<string, unknown>) => ({
  ...abandonedCart,
  steps: abandonedCart.steps.map((s, i) => (i === index ? { ...s, ...patch } : s)),
});

describe('an invalid flow is rejected with a 400 naming the path and the reason', () => {
  test.each([
    ['an unknown top-level field', { ...abandonedCart, colour: 'blue' }, [], /colour/],
    ['an unknown field in a step', withStep(1, { cc: 'boss@example.com' }), ['steps', 1], /cc/],
    ['a duration that is not one', withStep(0, { duration: 'a while' }), ['steps', 0, 'duration'], /not a duration/],
    ['a delay of more than a year', withStep(0, { duration: '400 days' }), ['steps', 0, 'duration'], /out of range/],
    ['an unknown step type', withStep(0, { type: 'fax' }), ['steps', 0, 'type'], /./],
    [
      'a reference to a missing step',
      withStep(0, { next: 'nowhere' }),
      ['steps', 0, 'next'],
      /no step has id "nowhere"/,
    ],
    ['a loop', withStep(2, { next: 'wait-1h' }), ['steps', 2, 'next'], /loop/],
    [
      'a template syntax error',
      withStep(1, { html: '<p>{% for p in event.properties.products %}{{ p.name }}</p>' }),
      ['steps', 1, 'html'],
      /reminder-1.*line:1/,
    ],
    [
      'an unknown template filter',
      withStep(3, { subject: '{{ contact.email | shout }}' }),
      ['steps', 3, 'subject'],
      /shout/,
    ],
    ['no steps', { ...abandonedCart, steps: [] }, ['steps'], /./],
    ['a bad status', { ...abandonedCart, status: 'on' }, ['status'], /./],
  ])('%s', async (_name, body, path, message) => {
    const res = await put('bad-flow', body);
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]),
    );
    expect((await h.http('get', '/v1/flows/bad-flow')).status).toBe(404);
  });

  test('a duplicate step id', async () => {
    const res = await put('bad-flow', withStep(3, { id: 'reminder-1' }));
    expect(res.body.error.issues).toEqual([{ path: ['steps', 3, 'id'], message: 'duplicate step id "reminder-1"' }]);
  });

  test('an id in the body that differs from the URL', async () => {
    const res = await put('cart', { ...abandonedCart, id: 'other' });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['id']);
  });

  test('an invalid flow id in the URL', async () => {
    const res = await put('Not A Slug', abandonedCart);
    expect(res.status).toBe(400);
  });
});

describe('versions', () => {
  test('create is 201 at version 1; the same body again changes nothing; a change makes version 2', async () => {
    const created = await put('versioned', abandonedCart);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'versioned',
      version: 1,
      status: 'live',
      exitWhen: [{ event: 'Order Completed' }],
    });

    const same = await put('versioned', abandonedCart);
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(1);

    const changed = await put('versioned', { ...abandonedCart, name: 'Cart reminder' });
    expect(changed.body).toMatchObject({ version: 2, name: 'Cart reminder' });

    const list = await h.http('get', '/v1/flows');
    expect(list.body.flows.map((f: { id: string; version: number }) => [f.id, f.version])).toContainEqual([
      'versioned',
      2,
    ]);
  });

  test('a GET, edit and PUT round trip works, and a stale version is a 409', async () => {
    await put('round-trip', abandonedCart);
    const current = (await h.http('get', '/v1/flows/round-trip')).body;
    const { createdAt: _c, updatedAt: _u, ...editable } = current;
    const edited = await put('round-trip', { ...editable, name: 'Edited' });
    expect(edited.status).toBe(200);
    expect(edited.body.version).toBe(2);

    const stale = await put('round-trip', { ...editable, name: 'Edited again' });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('version_conflict');
  });

  test('a running journey keeps the version it started with; new entries get the new one', async () => {
    // Its own trigger: contacts in several flows at once would meet smart sending.
    const flow: FlowInput = {
      ...abandonedCart,
      trigger: { event: 'Snapshot Started' },
      steps: [
        { id: 'wait', type: 'delay', duration: '1 hour' },
        { id: 'mail', type: 'email', subject: 'Version one', html: '<p>v1</p>' },
      ],
    };
    await put('snapshot', flow);
    await h.identify('early', { email: 'early@example.com' });
    await h.identify('late', { email: 'late@example.com' });
    await h.track({ userId: 'early', event: 'Snapshot Started', messageId: 'snap-early' });

    await put('snapshot', {
      ...flow,
      steps: [flow.steps[0], { id: 'mail', type: 'email', subject: 'Version two', html: '<p>v2</p>' }],
    });
    await h.track({ userId: 'late', event: 'Snapshot Started', messageId: 'snap-late' });
    await h.result('snapshot', 'early');
    await h.result('snapshot', 'late');

    const subjects = (to: string) =>
      h.sendgrid.emails
        .filter((e) => e.to === to && e.customArgs.parcours_flow_id === 'snapshot')
        .map((e) => e.subject);
    expect(subjects('early@example.com')).toEqual(['Version one']);
    expect(subjects('late@example.com')).toEqual(['Version two']);
    const journeys = (await h.http('get', '/v1/contacts/late/journeys')).body.journeys;
    expect(journeys.find((j: { flowId: string }) => j.flowId === 'snapshot')).toMatchObject({ flowVersion: 2 });
  });
});

test('a draft flow starts no journeys', async () => {
  await put('drafted', { ...abandonedCart, status: 'draft', trigger: { event: 'Draft Trigger' } });
  const res = await h.track({ userId: 'draft-user', event: 'Draft Trigger' });
  expect(res.journeys.started).toEqual([]);
});

test('trigger property filters decide entry', async () => {
  await put('big-carts', {
    ...abandonedCart,
    trigger: { event: 'Big Cart', where: [{ property: 'total', op: 'gte', value: 100 }] },
  });
  expect((await h.track({ userId: 'small', event: 'Big Cart', properties: { total: 20 } })).journeys.started).toEqual(
    [],
  );
  expect(
    (await h.track({ userId: 'large', event: 'Big Cart', properties: { total: 250 } })).journeys.started,
  ).toHaveLength(1);
});
