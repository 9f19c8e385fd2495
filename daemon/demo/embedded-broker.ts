import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

/**
 * The demo's in-process MQTT broker (aedes), on a free loopback port. For the demo only: aedes speaks MQTT 3.1.1,
 * so the demo's clients use the transport's 3.1.1 compatibility mode (docs/decisions.md). Production runs on
 * Mosquitto or a clustered MQTT v5 broker.
 */
export class EmbeddedBroker {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    this.broker = await Aedes.createBroker();
    const broker = this.broker;
    // Nagle's algorithm on the broker's side of each socket holds small replies back for a delayed ACK (~40 ms on
    // Linux loopback): every request/response pays it twice. Clients set TCP_NODELAY too (transport/broker.ts).
    this.server = createServer({ noDelay: true }, (socket) => broker.handle(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
