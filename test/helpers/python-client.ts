/**
 * A Python client library (installed into .tools by scripts/python-tools.ts) run as a child
 * process with its defaults, host pointed at Parcours, over a list of Segment calls.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { type PythonLibrary, pythonLibrary } from '../../scripts/python-tools';
import type { ContractCall } from './contract-scenario';

/** Which library helpers/python-client.py imports. */
export type PythonClient = 'segment' | 'analytics-python' | 'rudderstack';

export type PythonCall = ContractCall & { userIdAsNumber?: boolean };

export interface PythonRun {
  /** What the library's on_error reported. */
  errors: unknown[];
  /** The batch bodies it posted, one per attempt: a retried batch is here twice. */
  sent: { batch: Record<string, unknown>[] }[];
}

/**
 * Runs the library over the calls. Both 1.x-style libraries retry a batch they take for failed
 * for minutes before calling on_error: past 30 s the run fails saying so.
 */
export function sendWithPython(
  client: PythonClient,
  library: PythonLibrary,
  host: string,
  writeKey: string,
  calls: PythonCall[],
): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'python3',
      [path.join(__dirname, 'python-client.py')],
      { env: { ...process.env, PYTHONPATH: pythonLibrary(library) }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (!err) return resolve(JSON.parse(stdout) as PythonRun);
        const why = err.killed ? 'still sending after 30 s (retrying its batches?)' : err.message;
        reject(new Error(`${library.name} ${library.version}: ${why}\n${stderr.slice(-2000)}`));
      },
    );
    child.stdin!.end(JSON.stringify({ library: client, host, writeKey, calls }));
  });
}

/** Each messageId with the number of requests that carried it: 1 each when nothing was retried. */
export function attemptsPerMessage(run: PythonRun): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const body of run.sent)
    for (const message of body.batch) {
      const id = String(message.messageId);
      counts[id] = (counts[id] ?? 0) + 1;
    }
  return counts;
}
