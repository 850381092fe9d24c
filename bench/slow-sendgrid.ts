/**
 * A fake SendGrid v3 mail send on 127.0.0.1 that answers after a fixed delay (SendGrid's usual
 * latency is about 200 ms), for the real `@sendgrid/mail` client pointed at it with
 * SENDGRID_BASE_URL. The test fake (test/helpers/fake-sendgrid.ts) answers at once; the kill
 * scenario needs provider calls that are still open when the worker dies.
 *
 * A mail counts as sent when its request has fully arrived, not when the answer leaves: a real
 * provider delivers a message whose caller died before reading the 202, and that is exactly
 * how a crash turns into a duplicate.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** The part of SendGrid's mail send body the benchmark reads. */
const mailSendBody = z.object({
  personalizations: z.array(z.object({ to: z.array(z.object({ email: z.string() })).min(1) })).min(1),
  subject: z.string(),
});

export interface ReceivedMail {
  to: string;
  subject: string;
  /** Wall clock when the request arrived. */
  at: number;
}

export class SlowSendGrid {
  readonly received: ReceivedMail[] = [];
  /** Requests that are not mail sends we can read (printed by the scenario: each is a defect). */
  readonly unreadable: string[] = [];
  /** Requests arrived whose answer has not been written yet. */
  inFlight = 0;
  url = '';
  private server?: Server;
  private counter = 0;

  constructor(private readonly delayMs: number) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    // undici and the SendGrid client keep connections alive; 16+ parallel sends each hold one.
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      this.inFlight++;
      if (req.method === 'POST' && req.url === '/v3/mail/send') {
        const parsed = mailSendBody.safeParse(safeJson(Buffer.concat(chunks).toString('utf8')));
        if (parsed.success)
          this.received.push({ to: parsed.data.personalizations[0].to[0].email, subject: parsed.data.subject, at });
        else
          this.unreadable.push(
            `mail send body: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
      } else {
        this.unreadable.push(`${req.method} ${req.url}`);
      }
      const id = `sg-bench-${++this.counter}`;
      setTimeout(() => {
        this.inFlight--;
        // The caller may be dead (kill -9): writing to its socket then fails quietly.
        if (!res.destroyed) res.writeHead(202, { 'x-message-id': id }).end();
      }, this.delayMs);
    });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
