/**
 * A TCP proxy that can freeze: what a SIGSTOPped Postgres looks like from the app. Frozen, it
 * stops reading either way (bytes wait in the kernel's buffers, as they would in a stopped
 * server's), accepts new connections and sends nothing on them; no RST, no FIN, just silence.
 * Thawed, everything held flows on in order, as when the server is continued with SIGCONT.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export class FreezingProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  /** Listens in front of `host:port`; returns the port to connect to. */
  async start(host: string, port: number): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(port, host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
        if (this.frozen) socket.pause();
      }
      this.relay(client, upstream);
      this.relay(upstream, client);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  private relay(from: Socket, to: Socket): void {
    from.on('data', (chunk) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => !this.frozen && from.resume());
    // end, not destroy: what was written still reaches the other side, as a kernel would deliver it.
    from.on('close', () => to.end());
  }

  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) socket.pause();
  }

  thaw(): void {
    this.frozen = false;
    for (const socket of this.sockets) socket.resume();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
