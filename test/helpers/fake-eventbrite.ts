/**
 * A fake Eventbrite API on 127.0.0.1: GET /v3/orders/:id/ answers the stored order to the right
 * bearer token (401 otherwise), like Eventbrite's. Two extra orders misbehave on purpose: "slow"
 * never answers, "huge" answers far more than a source may read.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const EVENTBRITE_TOKEN = 'eventbrite-private-token-0123';

export class FakeEventbrite {
  readonly requests: { path: string; headers: IncomingHttpHeaders }[] = [];
  readonly orders = new Map<string, string>();
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push({ path: req.url ?? '', headers: req.headers });
      const id = /^\/v3\/orders\/([^/]+)\/$/.exec(req.url ?? '')?.[1];
      if (req.headers.authorization !== `Bearer ${EVENTBRITE_TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            status_code: 401,
            error: 'INVALID_AUTH',
            error_description: 'The OAuth token you provided was invalid.',
          }),
        );
        return;
      }
      if (id === 'slow') return; // holds the connection open: the source must give up by itself
      if (id === 'huge') {
        // No Content-Length (chunked): the source has to count the bytes it reads.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(`{"id":"huge","padding":"`);
        for (let i = 0; i < 64; i++) res.write('x'.repeat(64 * 1024));
        res.end('"}');
        return;
      }
      const order = id ? this.orders.get(id) : undefined;
      if (!order) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status_code: 404, error: 'NOT_FOUND' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(order);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
