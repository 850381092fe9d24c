/**
 * Hostile imports against the real servers: a ~1 MB gzip body that inflates to one 1 GiB JSON
 * line, a body past the import's size once decompressed, a row one byte past its limit. Each is
 * a 413 naming what is too large, nothing of it is held in memory, and the server goes on.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { API_KEY, Harness } from './helpers/harness';
import { MAX_IMPORT_BYTES, MAX_RECORD_BYTES } from '../api/contacts/import';

let h: Harness;
let server: http.Server;
let port: number;

beforeAll(async () => {
  h = await Harness.start({ runRouter: false });
  server = http.createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await h?.stop();
});

/** Posts over real HTTP (what a client sees, connection resets included). */
function post(body: Buffer, headers: Record<string, string>): Promise<{ status: number; json: ImportAnswer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/contacts/import',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-length': String(body.length), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
interface ImportAnswer {
  status?: string;
  rowsStored?: number;
  error?: { code: string; message: string; issues?: { path: (string | number)[] }[] };
}

const MiB = 1024 * 1024;
/** Gzip members, concatenated (a valid gzip stream): `count` MiB of `byte` without building them whole. */
function gzipRepeated(prefix: string, byte: string, mebibytes: number, suffix = ''): Buffer {
  const member = gzipSync(Buffer.alloc(MiB, byte));
  return Buffer.concat([gzipSync(prefix), ...Array.from({ length: mebibytes }, () => member), gzipSync(suffix)]);
}
const ndjson = { 'content-type': 'application/x-ndjson' };
const gzipped = { ...ndjson, 'content-encoding': 'gzip' };

async function stillImports(userId: string): Promise<void> {
  const res = await post(Buffer.from(`${JSON.stringify({ user_id: userId, city: 'Nantes' })}\n`), ndjson);
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({ status: 'done', rowsStored: 1 });
}

test('a ~1 MB gzip body inflating to one 1 GiB line is a 413 naming the line; the server goes on', async () => {
  const good = `${JSON.stringify({ user_id: 'before-the-bomb', city: 'Lyon' })}\n`;
  const body = gzipRepeated(`${good}{"user_id":"bomb","notes":"`, 'a', 1024, '"}\n');
  expect(body.length).toBeLessThan(2 * MiB);

  const res = await post(body, gzipped);

  expect(res.status).toBe(413);
  expect(res.json.error).toMatchObject({ code: 'payload_too_large', issues: [{ path: ['row', 2] }] });
  expect(res.json.error?.message).toMatch(/^row 2 is longer than 64 KB/);
  // What came before the line is stored.
  expect((await h.http('get', '/v1/contacts/before-the-bomb')).body.traits).toMatchObject({ city: 'Lyon' });
  expect((await h.http('get', '/v1/contacts/bomb')).status).toBe(404);
  await stillImports('after-the-bomb');
}, 120_000);

test('a body larger than the import limit once decompressed is a 413 naming the limit', async () => {
  // Blank lines of 60 KB: every line is within its limit, the whole is not.
  const line = `${' '.repeat(60 * 1024)}\n`;
  const member = gzipSync(Buffer.from(line.repeat(16)));
  const members = Math.ceil(MAX_IMPORT_BYTES / (line.length * 16)) + 1;
  const body = Buffer.concat(Array.from({ length: members }, () => member));
  expect(body.length).toBeLessThan(4 * MiB);

  const res = await post(body, gzipped);

  expect(res.status).toBe(413);
  expect(res.json.error?.code).toBe('payload_too_large');
  expect(res.json.error?.message).toMatch(/larger than 1024 MB once decompressed/);
  await stillImports('after-the-big-body');
}, 180_000);

test('a JSON line or a CSV record one byte past the limit is a 413 naming its row; at the limit it is read', async () => {
  const atLimit = (userId: string) => {
    const head = `{"user_id":"${userId}","notes":"`;
    return `${head}${'n'.repeat(MAX_RECORD_BYTES - head.length - 2)}"}`;
  };
  const fits = await post(Buffer.from(`${atLimit('line-at-limit')}\r\n`), ndjson);
  expect(fits.status).toBe(200);
  expect(fits.json).toMatchObject({ status: 'done', rowsStored: 1 });

  const over = await post(Buffer.from(`{"user_id":"ok-row"}\n${atLimit('line-over')} \n`), ndjson);
  expect(over.status).toBe(413);
  expect(over.json.error?.issues).toEqual([{ path: ['row', 2], message: expect.stringMatching(/^row 2 is longer/) }]);

  const csv = await post(Buffer.from(`user_id,notes\ncsv-ok,x\ncsv-long,${'n'.repeat(MAX_RECORD_BYTES)}\n`), {
    'content-type': 'text/csv',
  });
  expect(csv.status).toBe(413);
  expect(csv.json.error?.issues).toEqual([{ path: ['row', 2], message: expect.stringMatching(/^row 2 is longer/) }]);
  await stillImports('after-the-long-rows');
});
