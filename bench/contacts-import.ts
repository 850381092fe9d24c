/**
 * `npx tsx bench/contacts-import.ts`: a CSV of BENCH_IMPORT_ROWS contacts (default 1,000,000)
 * streamed to `POST /v1/contacts/import` over real HTTP, into a fresh database. Prints rows per
 * second and the memory the API process held (the lowest heap seen in each 5 seconds, and the
 * peak RSS): the lowest heap must not climb however many rows go through. No Temporal is
 * needed (an import starts no journey; the router loop is not run, so the stored identify
 * events wait for it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../api/app';
import { createLogger } from '../runtime/logger';
import { createTestDatabase } from '../test/helpers/database';
import { postStreamed } from '../test/helpers/stream-upload';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const KEY = 'bench-key';

async function main(): Promise<void> {
  const database = await createTestDatabase();
  const workflows = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }).workflow;
  const app = createApp({
    db: database.db,
    workflows,
    log: createLogger('silent'),
    apiKeys: [KEY],
    links: { publicUrl: 'http://127.0.0.1', secret: 'bench-link-secret-0123456789' },
    webhooks: { publicUrl: 'http://127.0.0.1' },
  });
  const server = http.createServer(app);
  server.requestTimeout = 0; // the whole upload is one request
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  function* csv() {
    yield 'user_id,email,first_name,last_name,city,country\n';
    for (let i = 0; i < ROWS; i++) yield `bench-${i},bench-${i}@example.com,First${i},Last${i},City ${i % 500},FR\n`;
  }
  const samples: string[] = [];
  let floor = Infinity;
  let rss = 0;
  const sampler = setInterval(() => {
    floor = Math.min(floor, process.memoryUsage().heapUsed);
    rss = Math.max(rss, process.memoryUsage().rss);
  }, 20);
  const reporter = setInterval(() => {
    samples.push(`${Math.round(floor / 2 ** 20)}`);
    floor = Infinity;
  }, 5_000);
  const started = Date.now();
  try {
    const answer = await postStreamed(
      port,
      '/v1/contacts/import',
      { Authorization: `Bearer ${KEY}`, 'Content-Type': 'text/csv' },
      csv(),
    );
    const seconds = (Date.now() - started) / 1000;
    const result = JSON.parse(answer) as { rowsStored?: number; rowsFailed?: number };
    console.log(
      `contacts import: ${ROWS.toLocaleString('en')} rows in ${seconds.toFixed(1)} s = ` +
        `${Math.round(ROWS / seconds).toLocaleString('en')} rows/s (stored ${result.rowsStored}, failed ` +
        `${result.rowsFailed})`,
    );
    const lows = samples.map(Number);
    console.log(
      `  API process: lowest heap of each 5 s (MB): first ${lows[0]}, last ${lows[lows.length - 1]}, least ` +
        `${Math.min(...lows)}, most ${Math.max(...lows)}; peak RSS ${Math.round(rss / 2 ** 20)} MB`,
    );
  } finally {
    clearInterval(sampler);
    clearInterval(reporter);
    server.close();
    await database.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
