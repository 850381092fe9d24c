/**
 * Flows under hostile or careless input: archived flows stay archived, concurrent status
 * changes do not interleave, running journeys are told in the background (and a crashed job
 * resumes where it stopped), and huge or deep conditions are refused with their path.
 */
import { addNotice } from '../db/flow-status-notices';
import type { FlowInput } from '../flows/schema';
import { MAX_CONDITION_DEPTH, MAX_CONDITIONS_PER_FLOW } from '../flows/validate';
import { resumeFlowStatusNotices } from '../routing/flow-status';
import { flowStatusWorkflowId } from '../workflows/flow-status';
import { recordHistory } from './helpers/histories';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const flow = (event: string, extra: Partial<FlowInput> = {}): FlowInput =>
  ({
    name: `On ${event}`,
    status: 'live',
    trigger: { event },
    smartSending: { enabled: false },
    steps: [
      { id: 'wait', type: 'delay', duration: '2 days' },
      { id: 'mail', type: 'email', subject: 'Hello', html: '<p>Hi</p>', transactional: true },
    ],
    ...extra,
  }) as FlowInput;
const put = (id: string, body: unknown) => h.http('put', `/v1/flows/${id}`).send(body as object);
const statusOf = async (id: string) => (await h.http('get', `/v1/flows/${id}`)).body.status as string;
const noticeOf = async (id: string) => (await h.http('get', `/v1/flows/${id}/status-notice`)).body.notice;

describe('an archived flow stays archived', () => {
  test('a PUT with status live (or no status) is a 409 that says why; the flow stays archived', async () => {
    await h.putFlow('retired', flow('Retired'));
    expect((await h.http('post', '/v1/flows/retired/archive')).status).toBe(200);
    for (const body of [
      flow('Retired'),
      { ...flow('Retired'), status: 'paused' },
      { ...flow('Retired'), status: undefined },
    ]) {
      const res = await put('retired', body);
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({
        code: 'archived',
        message: expect.stringMatching(/archived.*copy it under a new id/),
      });
    }
    for (const action of ['activate', 'pause'])
      expect((await h.http('post', `/v1/flows/retired/${action}`)).status).toBe(409);
    expect(await statusOf('retired')).toBe('archived');
    // No journey starts for it.
    expect((await h.track({ userId: 'late', event: 'Retired' })).journeys.started).toEqual([]);
  });

  test('concurrent archive and activate never leave the flow live', async () => {
    for (let round = 0; round < 8; round += 1) {
      const id = `race-${round}`;
      await h.putFlow(id, { ...flow('Race'), status: 'paused' });
      const actions =
        round % 2 === 0 ? ['archive', 'activate', 'pause', 'activate'] : ['activate', 'pause', 'archive', 'activate'];
      const answers = await Promise.all(actions.map((a) => h.http('post', `/v1/flows/${id}/${a}`)));
      expect(answers.every((r) => r.status === 200 || r.status === 409)).toBe(true);
      expect(await statusOf(id)).toBe('archived');
      // Every answer after the archive one refused; none reported the flow live after it.
      const archivedAnswer = answers.findIndex((_r, i) => actions[i] === 'archive');
      expect(answers[archivedAnswer].body.status).toBe('archived');
    }
  });
});

describe('running journeys are told about status changes in the background', () => {
  test('the answer comes before the journeys are signalled; the notice then finishes and the journey ends archived', async () => {
    await h.putFlow('bg', flow('Background'));
    for (const c of ['bg-1', 'bg-2', 'bg-3']) {
      await h.identify(c, { email: `${c}@example.com` });
      await h.track({ userId: c, event: 'Background' });
    }
    const res = await h.http('post', '/v1/flows/bg/archive');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'archived',
      journeysNotice: { status: 'archived', state: 'pending', journeysSignalled: 0 },
    });
    const done = await waitFor(async () => {
      const n = await noticeOf('bg');
      return n?.state === 'done' && n;
    }, 'the notice to finish');
    expect(done.journeysSignalled).toBe(3);
    const telling = h.env.client.workflow.getHandle(flowStatusWorkflowId('bg'));
    await telling.result();
    await recordHistory('flow-status', 'archived-three-journeys', telling);
    for (const c of ['bg-1', 'bg-2', 'bg-3']) expect((await h.result('bg', c)).exit).toEqual({ reason: 'archived' });
    expect(h.sendgrid.emails.filter((e) => e.to.startsWith('bg-'))).toEqual([]);
  });

  test('a notice left by a crash is resumed after its last saved page, and only the newest status is sent', async () => {
    await h.putFlow('crashy', flow('Crashy'));
    for (const c of ['cr-1', 'cr-2', 'cr-3']) await h.track({ userId: c, event: 'Crashy' });
    const { rows } = await h.db.query<{ run_id: string; contact_id: string }>(
      "SELECT run_id, contact_id FROM journeys WHERE flow_id = 'crashy' AND status = 'running' ORDER BY run_id",
    );
    expect(rows).toHaveLength(3);
    // As if a process had committed "pause", then "resume" and "pause" again, signalled the
    // first journey of the last one and died: the status is in the database, the rest is not done.
    await h.db.query("UPDATE flows SET status = 'paused' WHERE id = 'crashy'");
    const older = await addNotice(h.db, 'crashy', 'live');
    const latest = await addNotice(h.db, 'crashy', 'paused');
    await h.db.query('UPDATE flow_status_notices SET after_run_id = $2, signalled = 1 WHERE id = $1', [
      latest!.id,
      rows[0].run_id,
    ]);

    // The periodic pass starts the flow's status workflow, which resumes after the saved page.
    expect(await resumeFlowStatusNotices({ db: h.db, workflows: h.env.client.workflow, log: h.log })).toBe(1);
    await h.env.client.workflow.getHandle(flowStatusWorkflowId('crashy')).result();

    const notices = (
      await h.db.query<{ id: number; outcome: string; signalled: number }>(
        "SELECT id, outcome, signalled FROM flow_status_notices WHERE flow_id = 'crashy' ORDER BY id",
      )
    ).rows;
    expect(notices).toEqual([
      { id: older!.id, outcome: 'superseded', signalled: 0 },
      { id: latest!.id, outcome: 'done', signalled: 3 },
    ]);
    const statuses = await Promise.all(rows.map(async (r) => (await h.state('crashy', r.contact_id)).flowStatus));
    // The first journey was "signalled before the crash" (here: never, so it still says live);
    // the job resumed after it and told the two others.
    expect(statuses).toEqual(['live', 'paused', 'paused']);
  });
});

describe('conditions and text a flow cannot hold', () => {
  const nested = (levels: number): Record<string, unknown> =>
    levels === 0 ? { event: 'Order Completed' } : { not: nested(levels - 1) };

  test(`conditions nested deeper than ${MAX_CONDITION_DEPTH} levels: 400 naming where`, async () => {
    const res = await put('deep-cond', flow('Deep', { exitWhen: [nested(12) as never] }));
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      {
        path: ['exitWhen', 0, ...Array(MAX_CONDITION_DEPTH).fill('not')],
        message: expect.stringMatching(/nested more than 8 levels/),
      },
    ]);
  });

  test(`${MAX_CONDITION_DEPTH} levels are fine`, async () => {
    expect((await put('ok-cond', flow('Ok', { exitWhen: [nested(MAX_CONDITION_DEPTH - 1) as never] }))).status).toBe(
      201,
    );
  });

  test('a flow with thousands of conditions: 400', async () => {
    const many = Array.from({ length: MAX_CONDITIONS_PER_FLOW + 1 }, (_, i) => ({ event: `E${i}` }));
    const res = await put('huge-cond', flow('Huge', { exitWhen: [{ any: many }] as never }));
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].message).toMatch(/at most 500/);
  });

  test('a condition nested 100 levels deep (past the JSON nesting limit) is a 400, not a crash', async () => {
    const res = await put('very-deep', flow('Very deep', { exitWhen: [nested(100) as never] }));
    expect(res.status).toBe(400);
  });

  test('a NUL byte in a flow name or trigger event: 400 naming the field', async () => {
    const res = await put('nul-flow', { ...flow('Nul'), name: 'Cart\u0000' });
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([{ path: ['name'], message: expect.stringMatching(/NUL/) }]);
    const trigger = await put('nul-flow', flow('Order\uD800'));
    expect(trigger.status).toBe(400);
    expect(trigger.body.error.issues[0].path).toEqual(['trigger', 'event']);
  });
});
