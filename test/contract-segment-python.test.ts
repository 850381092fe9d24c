/**
 * Segment's Python library (`segment-analytics-python`, installed into .tools/python by
 * `npm run tools:install`) run as a child process with its defaults, host pointed at
 * Parcours: every call type stored and routed, `"anonymousId": null` beside a userId
 * accepted, and a numeric userId above 2^53 kept exactly.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { segmentPython } from '../scripts/python-tools';
import {
  expectStoredAndRouted,
  INGESTION_KEY,
  parcoursForContracts,
  scenario,
  waitUntilRouted,
  type ContractCall,
} from './helpers/contract-scenario';

const parcours = parcoursForContracts();

type PythonCall = ContractCall & { userIdAsNumber?: boolean };

interface PythonRun {
  /** What the library's on_error reported. */
  errors: unknown[];
  /** The batch bodies it posted. */
  sent: { batch: Record<string, unknown>[] }[];
}

/** Runs the library over the calls, as a child process. */
function sendWithPython(calls: PythonCall[]): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'python3',
      [path.join(__dirname, 'helpers', 'segment-python-client.py')],
      { env: { ...process.env, PYTHONPATH: segmentPython() }, timeout: 30_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`python client: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as PythonRun),
    );
    child.stdin!.end(JSON.stringify({ host: parcours.url, writeKey: INGESTION_KEY, calls }));
  });
}

test('every call type through analytics.flush(): each stored once and routed, the visitor merged; anonymousId null accepted', async () => {
  const s = scenario('segment-python');
  const run = await sendWithPython(s.calls);
  expect(run.errors).toEqual([]);
  // What sets this library apart: `"anonymousId": null` beside each userId sent alone.
  const screen = run.sent.flatMap((body) => body.batch).find((m) => m.type === 'screen');
  expect(screen).toMatchObject({ userId: s.userId, anonymousId: null });

  await expectStoredAndRouted(parcours.h, s);
});

test('a numeric userId above 2^53 is stored exactly as sent', async () => {
  const call: PythonCall = {
    type: 'track',
    messageId: 'segment-python-big-id',
    userId: '12345678901234567890',
    userIdAsNumber: true,
    event: 'Signed Up',
    properties: { plan: 'free' },
  };
  const run = await sendWithPython([call]);
  expect(run.errors).toEqual([]);
  // The library turns the int into its decimal text; a rounding parser would still lose it.
  expect(run.sent[0].batch[0].userId).toBe('12345678901234567890');

  const stored = await waitUntilRouted(parcours.h, [call.messageId]);
  expect(stored.get(call.messageId)).toMatchObject({ contact_id: '12345678901234567890', name: 'Signed Up' });
  expect((await parcours.h.http('get', '/v1/contacts/12345678901234567890')).status).toBe(200);
});
