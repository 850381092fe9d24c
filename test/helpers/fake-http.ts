/**
 * A fake provider API on 127.0.0.1: records every request and answers from a script
 * (queued responses first, then the default). The real SendGrid and Twilio clients talk to it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status the fake answered with. */
  status?: number;
  /** Wall-clock time the fake saw it. */
  at: number;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Answer this much later (real time): the provider has taken the message (the request is
   * recorded with its status at once) but its answer is slow or, past the client's timeout, lost.
   */
  delayMs?: number;
}

export class FakeHttpServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queued: FakeResponse[] = [];
  private server?: Server;
  url = '';

  constructor(
    private readonly respond: (req: RecordedRequest, index: number) => FakeResponse,
    /** Serve HTTPS with this key and certificate. */
    private readonly tls?: { key: string; cert: string },
  ) {}

  async start(): Promise<this> {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        this.requests.push(recorded);
        const answer = this.queued.shift() ?? this.respond(recorded, this.requests.length);
        recorded.status = answer.status;
        const payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
        const send = () => {
          if (res.destroyed) return; // the client gave up (its timeout) or died
          res.writeHead(answer.status, {
            ...(payload ? { 'content-type': 'application/json' } : {}),
            ...answer.headers,
          });
          res.end(payload);
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
        else send();
      });
    };
    this.server = this.tls ? createHttpsServer(this.tls, handler) : createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  /** The next answers, in order, before falling back to the default. */
  enqueue(...responses: FakeResponse[]): void {
    this.queued.push(...responses);
  }

  reset(): void {
    this.requests.length = 0;
    this.queued.length = 0;
  }

  async stop(): Promise<void> {
    // Provider clients keep connections alive; close them or close() waits for their timeout.
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** Polls until `check` returns a value (not undefined/false) or the real-time limit passes. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A self-signed certificate for 127.0.0.1 (web push services are HTTPS-only). */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parcours-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${dir}/key.pem`,
        '-out',
        `${dir}/cert.pem`,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(`${dir}/key.pem`, 'utf8'), cert: readFileSync(`${dir}/cert.pem`, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fixed-offset zone in which the instant `at` is `hour` o'clock local time: quiet hours and
 * "delay until 10:00" use the contact's zone, so tests pass whatever hour they run at.
 */
export function zoneWhereLocalHourIs(at: number, hour: number): string {
  let offset = (hour - new Date(at).getUTCHours() + 48) % 24;
  if (offset > 14) offset -= 24; // Etc/GMT zones span UTC-12 to UTC+14
  // POSIX signs: Etc/GMT-3 is UTC+3.
  return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}
