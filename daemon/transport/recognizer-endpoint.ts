/**
 * The recognizer side of the wire (DESIGN §5, §6): takes queries and region requests off shared subscriptions, so
 * any number of stateless instances split the load, and answers each on its responseTopic with its correlationData.
 * Everything from the network is validated first; nothing from it can crash the process.
 */
import { randomBytes } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { UserError } from '../util/errors.js';
import { decode, encode, WireError } from './codec.js';
import { createBrokerClient, endClient, redactUrl, whenConnected, type BrokerOptions } from './broker.js';
import {
  TOPICS,
  type ErrorMessage,
  type QueryMessage,
  type RecognizerInfoMessage,
  type RegionPackMessage,
  type RegionRequestMessage,
  type ReplyMessage,
  type WireLimits,
  type WireMessage,
} from './messages.js';

type MaybePromise<T> = T | Promise<T>;

/** What the endpoint calls for validated requests; the recognizer's search lives behind it. */
export interface RecognizerHandler {
  query(q: QueryMessage): MaybePromise<ReplyMessage | ErrorMessage>;
  region(r: RegionRequestMessage): MaybePromise<RegionPackMessage | ErrorMessage>;
  /** The current announcement (model, dimension, gallery version); read at start and by publishInfo(). */
  info(): RecognizerInfoMessage;
}

export interface RecognizerEndpointOptions extends BrokerOptions {
  /** Shared-subscription group: instances in one group split the queries (default 'recognizers'). */
  group?: string;
  limits: WireLimits;
  handler: RecognizerHandler;
  logger?: Logger;
  /** Requests handled at once; beyond this they get a 'busy' error reply (default 256). */
  maxInFlight?: number;
}

export interface RecognizerEndpointCounters {
  state: 'connecting' | 'connected' | 'offline';
  /** Valid queries and region requests taken. */
  queries: number;
  regions: number;
  /** Replies sent (including error replies). */
  replies: number;
  /** Error replies: wrong model, bad request, busy, handler failures. */
  errors: number;
  /** Messages dropped without processing (invalid routing, invalid payload). */
  dropped: number;
  inFlight: number;
}

const MAX_CORRELATION_BYTES = 64;
// Our devices use 32 hex characters; anything else that is short and cannot be a wildcard or a deeper level is fine.
const REPLY_SUFFIX = /^[A-Za-z0-9_-]{1,128}$/;
const GROUP_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function errorReply(code: string, message: string): ErrorMessage {
  return { type: 'error', code, message };
}

export class RecognizerEndpoint {
  private readonly opts: RecognizerEndpointOptions;
  private readonly log: Logger;
  private readonly group: string;
  private readonly maxInFlight: number;
  private mqtt: MqttClient | undefined;
  private ready: Promise<void> = Promise.resolve();
  private announced: RecognizerInfoMessage | undefined;
  private stopped = false;
  private readonly c: RecognizerEndpointCounters = {
    state: 'offline',
    queries: 0,
    regions: 0,
    replies: 0,
    errors: 0,
    dropped: 0,
    inFlight: 0,
  };

  constructor(opts: RecognizerEndpointOptions) {
    this.opts = opts;
    this.log = opts.logger ?? silentLogger();
    this.group = opts.group ?? 'recognizers';
    this.maxInFlight = opts.maxInFlight ?? 256;
    if (!GROUP_NAME.test(this.group)) {
      throw new UserError(`The recognizer group "${this.group}" is invalid: use 1-64 letters, digits, '-' or '_'.`);
    }
  }

  /** Connects (UserError naming the URL when unreachable), subscribes and publishes the retained announcement. */
  async start(): Promise<void> {
    if (this.mqtt) throw new Error('RecognizerEndpoint.start() called twice');
    this.announced = this.checkedInfo();
    this.c.state = 'connecting';
    const client = createBrokerClient(this.opts, `enfpire-rec-${randomBytes(6).toString('hex')}`);
    this.mqtt = client;
    const current = () => client === this.mqtt;
    client.on('connect', () => {
      if (current()) this.onConnect(client);
    });
    client.on('message', (topic, payload, packet) => {
      if (!current()) return;
      // The last line of defence: whatever a message does, it must not become an unhandled rejection.
      this.onMessage(topic, payload, packet).catch((err: Error) => this.log.error({ err: err.message }, 'request handling failed'));
    });
    client.on('reconnect', () => {
      if (current()) this.c.state = 'connecting';
    });
    client.on('close', () => {
      if (!current()) return;
      if (this.c.state === 'connected') this.log.warn({ broker: redactUrl(this.opts.url) }, 'lost the connection to the broker');
      this.c.state = 'offline';
    });
    client.on('error', (err) => {
      if (current() && this.c.state === 'connected') this.log.warn({ err: err.message }, 'broker error');
    });
    try {
      await whenConnected(client, this.opts);
      await this.ready;
    } catch (err) {
      this.mqtt = undefined;
      this.c.state = 'offline';
      await endClient(client);
      throw err;
    }
    this.log.info({ broker: redactUrl(this.opts.url), group: this.group, model: this.announced.model }, 'recognizer endpoint ready');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.mqtt;
    this.mqtt = undefined;
    this.c.state = 'offline';
    // The retained announcement stays: other instances of the group may still be serving.
    if (client) await endClient(client);
  }

  /** Re-reads handler.info() and re-publishes it retained (call after the gallery changed). */
  async publishInfo(): Promise<void> {
    this.announced = this.checkedInfo();
    const client = this.mqtt;
    // While offline the next connection publishes it.
    if (!client?.connected) return;
    await client.publishAsync(TOPICS.info, encode(this.announced), { qos: 1, retain: true });
  }

  counters(): RecognizerEndpointCounters {
    return { ...this.c };
  }

  private checkedInfo(): RecognizerInfoMessage {
    const info = this.opts.handler.info();
    if (info.dimension !== this.opts.limits.dimension) {
      throw new UserError(
        `The recognizer's gallery has dimension ${info.dimension} but its wire limits say ${this.opts.limits.dimension}: ` +
          'set the limits from the model the gallery was enrolled with.',
      );
    }
    return info;
  }

  private onConnect(client: MqttClient): void {
    this.ready = (async () => {
      const grants = await client.subscribeAsync({
        [`$share/${this.group}/${TOPICS.query}`]: { qos: 1 },
        [`$share/${this.group}/${TOPICS.region}`]: { qos: 1 },
      });
      if (grants.some((g) => g.qos >= 0x80)) {
        throw new UserError(
          `The MQTT broker at ${redactUrl(this.opts.url)} refused the shared subscriptions of group ${this.group}: ` +
            'use a broker with MQTT v5 shared subscriptions and allow the recognizer to subscribe to enfpire/v1/#.',
        );
      }
      await this.publishInfo();
      if (client === this.mqtt) this.c.state = 'connected';
    })();
    this.ready.catch((err: Error) => this.log.error({ err: err.message }, 'recognizer endpoint setup failed'));
  }

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const expected = topic === TOPICS.query ? 'query' : topic === TOPICS.region ? 'region-request' : undefined;
    if (!expected) return this.drop(`message on unexpected topic ${topic.slice(0, 80)}`);

    // Routing first: without a valid reply address there is nobody to tell what was wrong.
    const responseTopic = packet.properties?.responseTopic;
    const correlationData = packet.properties?.correlationData;
    if (typeof responseTopic !== 'string' || !responseTopic.startsWith(TOPICS.replyPrefix) ||
        !REPLY_SUFFIX.test(responseTopic.slice(TOPICS.replyPrefix.length))) {
      return this.drop(`${expected} without a valid response topic`);
    }
    if (!Buffer.isBuffer(correlationData) || correlationData.length === 0 || correlationData.length > MAX_CORRELATION_BYTES) {
      return this.drop(`${expected} without valid correlation data (1-${MAX_CORRELATION_BYTES} bytes)`);
    }
    const reply = (msg: WireMessage) => this.reply(responseTopic, correlationData, msg);

    let msg: WireMessage;
    try {
      msg = decode(payload, this.opts.limits);
    } catch (err) {
      this.drop(`invalid ${expected}: ${(err as Error).message}`);
      // The sender is reachable, so say why instead of letting it time out.
      return reply(errorReply('bad-request', (err as Error).message));
    }
    if (msg.type !== expected) {
      this.drop(`${msg.type} message on the ${expected} topic`);
      return reply(errorReply('bad-request', `expected a ${expected} message on ${topic}, got ${msg.type}`));
    }
    const model = this.announced?.model;
    if (msg.model !== model) {
      return reply(errorReply('wrong-model', `this recognizer serves model ${model}, the request is for model ${msg.model}`));
    }
    if (this.c.inFlight >= this.maxInFlight) {
      return reply(errorReply('busy', 'the recognizer is overloaded; try again later'));
    }

    if (msg.type === 'query') this.c.queries++;
    else this.c.regions++;
    this.c.inFlight++;
    let answer: WireMessage;
    try {
      answer = msg.type === 'query' ? await this.opts.handler.query(msg) : await this.opts.handler.region(msg as RegionRequestMessage);
      const allowed = msg.type === 'query' ? 'reply' : 'region-pack';
      if (answer?.type !== allowed && answer?.type !== 'error') {
        throw new Error(`handler returned ${String(answer?.type)} instead of ${allowed}`);
      }
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `${msg.type} handler failed`);
      answer = errorReply('internal', 'the recognizer failed to answer');
    } finally {
      this.c.inFlight--;
    }
    return reply(answer);
  }

  private async reply(topic: string, correlationData: Buffer, msg: WireMessage): Promise<void> {
    let payload: Buffer;
    try {
      payload = encode(msg);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.log.error({ err: err.message }, 'could not encode the reply');
      msg = errorReply('internal', 'the recognizer produced an invalid reply');
      payload = encode(msg);
    }
    if (payload.length > this.opts.limits.maxBytes) {
      // The device would drop it anyway; tell it why instead.
      this.log.error({ bytes: payload.length, maxBytes: this.opts.limits.maxBytes }, 'reply larger than the wire limit');
      msg = errorReply('too-large', `the reply has ${payload.length} bytes, more than the ${this.opts.limits.maxBytes} allowed`);
      payload = encode(msg);
    }
    if (msg.type === 'error') this.c.errors++;
    const client = this.mqtt;
    if (!client || this.stopped) return;
    this.c.replies++;
    try {
      await client.publishAsync(topic, payload, { qos: 1, properties: { correlationData } });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not publish a reply');
    }
  }

  private drop(reason: string): void {
    this.c.dropped++;
    this.log.warn(`dropped ${reason}`);
  }
}
