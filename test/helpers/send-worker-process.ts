/**
 * The journey worker in a process of its own, so a test can SIGKILL it in the middle of a send
 * (what `kill -9` or a lost machine does). Configured by environment variables; prints "ready"
 * once it polls. Run with `node --import tsx test/helpers/send-worker-process.ts`.
 */
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { outboxProvider } from '../../activities/providers/outbox';
import { sendgridProvider } from '../../activities/providers/sendgrid';
import type { OutgoingPush, OutgoingSms } from '../../activities/providers/types';
import { createPool } from '../../db/pool';
import { createJourneyWorker } from '../../worker/create-worker';

async function main(): Promise<void> {
  const need = (name: string): string => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const db = createPool(need('DATABASE_URL'));
  const connection = await NativeConnection.connect({ address: need('TEMPORAL_ADDRESS') });
  const worker = await createJourneyWorker({
    connection,
    namespace: 'default',
    // Bundled once by the test (bundling takes seconds): the restarted worker runs the same code.
    workflowBundle: JSON.parse(readFileSync(need('WORKFLOW_BUNDLE_PATH'), 'utf8')) as {
      code: string;
      sourceMap: string;
    },
    activities: {
      db,
      email: sendgridProvider({
        apiKey: 'SG.test-key',
        baseUrl: need('SENDGRID_URL'),
        ...(process.env.SENDGRID_TIMEOUT_MS ? { timeoutMs: Number(process.env.SENDGRID_TIMEOUT_MS) } : {}),
      }),
      sms: outboxProvider<OutgoingSms>(),
      push: outboxProvider<OutgoingPush>(),
      emailFrom: 'shop@example.com',
      links: { publicUrl: 'https://parcours.test', secret: 'test-link-secret-0123456789' },
      sendLeaseMs: Number(process.env.SEND_LEASE_MS ?? 30_000),
    },
  });
  const running = worker.run();
  process.stdout.write('ready\n');
  await running;
  await connection.close();
  await db.end();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
