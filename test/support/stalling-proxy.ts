import { createServer, connect, type Server, type Socket } from 'node:net';

/** A TCP proxy in front of a database server that the test can make stop answering. */
export interface StallingProxy {
  /** Where clients connect instead of the server. */
  host: string;
  port: number;
  /**
   * Holds every byte, both ways, on every connection, new ones included: the server seems to
   * hang without closing anything, as behind a dead link or a frozen host. Nothing is refused.
   */
  stall(): void;
  /** Delivers what was held, in order, and forwards again. */
  resume(): void;
  /** Closes every connection and the listener. */
  close(): Promise<void>;
}

/** One direction of a proxied connection: forwards, or holds while the proxy is stalled. */
class Direction {
  private held: Buffer[] = [];
  private ended = false;

  constructor(
    private readonly to: Socket,
    private readonly stalled: () => boolean,
  ) {}

  data(chunk: Buffer): void {
    if (this.stalled() || this.held.length > 0) this.held.push(chunk);
    else this.to.write(chunk);
  }

  end(): void {
    this.ended = true;
    if (!this.stalled()) this.flush();
  }

  flush(): void {
    for (const chunk of this.held) this.to.write(chunk);
    this.held = [];
    if (this.ended) this.to.end();
  }
}

/** Starts a proxy on 127.0.0.1 forwarding to `target` until told to stall. */
export async function startStallingProxy(target: {
  host: string;
  port: number;
}): Promise<StallingProxy> {
  let stalled = false;
  const isStalled = () => stalled;
  const directions = new Set<Direction>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    const pair = [client, upstream];
    const up = new Direction(upstream, isStalled);
    const down = new Direction(client, isStalled);
    directions.add(up).add(down);
    client.on('data', (chunk) => up.data(chunk));
    upstream.on('data', (chunk) => down.data(chunk));
    client.on('end', () => up.end());
    upstream.on('end', () => down.end());
    let open = pair.length;
    for (const socket of pair) {
      sockets.add(socket);
      // A reset on one side is passed on at once, stalled or not: only silence is simulated.
      socket.on('error', () => pair.forEach((s) => s.destroy()));
      socket.on('close', () => {
        sockets.delete(socket);
        if (--open > 0) return;
        directions.delete(up);
        directions.delete(down);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    host: '127.0.0.1',
    port: address.port,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const direction of directions) direction.flush();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
