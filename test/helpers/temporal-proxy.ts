/**
 * A TCP proxy in front of the Temporal server: it can be switched off (connections refused and
 * cut) and on, and can hold every chunk for a while each way (a slow network, so a test can
 * tell calls made one after the other from calls made at once).
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class TemporalProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  up = true;

  constructor(private readonly delayMs = 0) {}

  /** Listens in front of `target` (host:port); returns the address to connect to. */
  async start(target: string): Promise<string> {
    const [host, port] = target.split(':');
    this.server = createServer((client) => {
      if (!this.up) return void client.destroy();
      const upstream = connect(Number(port), host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      this.relay(client, upstream);
      this.relay(upstream, client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private relay(from: Socket, to: Socket): void {
    if (this.delayMs === 0) return void from.pipe(to);
    // Equal delays keep the chunks in order.
    from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), this.delayMs));
    from.on('end', () => setTimeout(() => to.end(), this.delayMs));
  }

  down(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
