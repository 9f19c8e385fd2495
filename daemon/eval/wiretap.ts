/**
 * What the curious server sees (DESIGN §4 threat model: "the recognition server and whoever reads the broker"): an
 * MQTT client that reads every query on `enfpire/v1/query` and every reply under `enfpire/v1/reply/#`, pairs them by
 * correlation data, and keeps exactly what crossed the wire — arrival time, reply topic, vector, topM, candidate ids.
 * The adversaries of the evaluation work from these records only, so they can use nothing the server could not.
 * Ground truth never enters here.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { decodeRouted } from '../transport/codec.js';
import { createBrokerClient, endClient, randomClientId, whenConnected, type BrokerOptions } from '../transport/broker.js';
import { TOPICS, parseRequestTopic, requestFilter, type WireLimits } from '../transport/messages.js';
import { TrustedKeys } from '../transport/signing.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

/** No pinned key: unwraps signed answers without checking them, as any eavesdropper can. */
const UNCHECKED = new TrustedKeys();

/** One query as the server saw it (a line of `--record`). */
export interface ServerRecord {
  /** Arrival time: simulated ms, or wall-clock ms since the epoch in a wall-clock run. */
  t: number;
  reply_topic: string;
  /** The query vector, dequantised as the recognizer decoded it (6 decimals: far finer than the int8 wire form). */
  vector: number[];
  topM: number;
  /** Candidate ids of the reply, best first. */
  candidates: string[];
}

export interface WiretapOptions extends BrokerOptions {
  limits: WireLimits;
  /** Simulated time, read when a query arrives. */
  clock: () => number;
  logger?: Logger;
}


export class Wiretap {
  readonly records: ServerRecord[] = [];
  private mqtt: MqttClient | undefined;
  /** Queries seen and not yet answered, by correlation data; their record is already in `records`. */
  private readonly open = new Map<string, ServerRecord>();
  private answered = 0;
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  private readonly log: Logger;

  constructor(private readonly options: WiretapOptions) {
    this.log = options.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    const client = createBrokerClient(this.options, randomClientId());
    this.mqtt = client;
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('error', (err) => this.log.warn({ err: err.message }, 'wiretap broker error'));
    await whenConnected(client, this.options);
    await client.subscribeAsync({ [requestFilter('query')]: { qos: 1 }, [`${TOPICS.replyPrefix}#`]: { qos: 1 } });
  }

  async stop(): Promise<void> {
    const client = this.mqtt;
    this.mqtt = undefined;
    if (client) await endClient(client);
  }

  /**
   * Resolves true once `count` queries have been seen and every one seen so far has its reply; false when
   * `timeoutMs` passed first (a query nobody answered stays in the record with no candidates, as the server saw it).
   */
  waitFor(count: number, timeoutMs = 10_000): Promise<boolean> {
    if (this.caughtUp(count)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { count, resolve: () => {} };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve(false);
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(waiter);
    });
  }

  private caughtUp(count: number): boolean {
    return this.records.length >= count && this.answered >= this.records.length;
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (!this.caughtUp(w.count)) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    let routed;
    try {
      // The server sees signed answers too; the message inside is what it learns from.
      routed = decodeRouted(UNCHECKED.open(payload, undefined, this.options.limits.maxBytes), this.options.limits);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'wiretap: undecodable message');
      return;
    }
    const { msg, routing } = routed;
    const correlation = packet.properties?.correlationData ?? routing?.correlationData;
    if (!(correlation instanceof Uint8Array)) return;
    const key = Buffer.from(correlation).toString('hex');
    if (parseRequestTopic(topic)?.kind === 'query' && msg.type === 'query') {
      const replyTopic = packet.properties?.responseTopic ?? routing?.responseTopic ?? '';
      // Kept in arrival order, the order the server sees them in; candidates are filled in when the reply passes.
      const record: ServerRecord = {
        t: this.options.clock(),
        reply_topic: replyTopic,
        vector: Array.from(msg.vector, (v) => Math.round(v * 1e6) / 1e6),
        topM: msg.topM,
        candidates: [],
      };
      this.records.push(record);
      this.open.set(key, record);
    } else if (topic.startsWith(TOPICS.replyPrefix) && (msg.type === 'reply' || msg.type === 'error')) {
      const query = this.open.get(key);
      if (!query) return;
      this.open.delete(key);
      this.answered++;
      if (msg.type === 'reply') query.candidates = msg.candidates.map((c) => c.id);
      this.wake();
    }
  }
}

/** Writes records (what the server saw, or the ground truth beside it) as JSON lines. */
export async function writeRecord(path: string, records: readonly object[]): Promise<void> {
  const out = createWriteStream(path);
  for (const r of records) {
    if (!out.write(`${JSON.stringify(r)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}
