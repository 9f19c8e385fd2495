/**
 * The recognizer side of the wire (DESIGN §5, §6): takes queries and region requests off shared subscriptions, so
 * any number of stateless instances split the load, and answers each on its responseTopic with its correlationData.
 * The reply address comes from the MQTT v5 properties or, for devices in MQTT 3.1.1 compatibility mode, from the
 * envelope; the answer goes back the same way, and only to the reply topic of the client id the request topic names
 * (so a request cannot aim an answer at another device). With a signing key every answer and the announcement carry
 * the operator's signature (signing.ts). Everything from the network is validated first; nothing from it can crash
 * the process.
 */
import { randomBytes } from 'node:crypto';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { UserError } from '../util/errors.js';
import { decodeRouted, encode, isCorrelationData, isReplyTopic, WIRE_BOUNDS, WireError } from './codec.js';
import { createBrokerClient, endClient, protocolVersionOf, redactUrl, whenConnected, type BrokerOptions } from './broker.js';
import type { PayloadSigner } from './signing.js';
import {
  TOPICS,
  parseRequestTopic,
  requestFilter,
  type EnvelopeRouting,
  type ErrorMessage,
  type QueryMessage,
  type RecognizerInfoMessage,
  type RegionPackMessage,
  type RegionRequestMessage,
  type ReplyMessage,
  type WireErrorCode,
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
  /** Shared-subscription group: instances in one group split the queries (the profile's group; its default is the schema's). */
  group: string;
  /**
   * Subscribe as `$share/<group>/…` (true) or to the plain topics (false: the only recognizer on the broker).
   * Default: true with protocolVersion 5, false with 4, since 3.1.1-only brokers such as aedes lack shared
   * subscriptions (aedes even grants `$share/…` and then delivers nothing).
   */
  shared?: boolean;
  limits: WireLimits;
  handler: RecognizerHandler;
  logger?: Logger;
  /** Requests handled at once; beyond this they get a 'busy' error reply (default 256). */
  maxInFlight?: number;
  /** Told about every answer the broker accepted (the recognizer's metrics); must not throw. */
  onAnswer?: (answer: AnswerEvent) => void;
  /** Signs every answer and the announcement with the operator's key; without it they go unsigned. */
  signer?: PayloadSigner;
}

/**
 * One answer, as the endpoint's observer sees it: what kind of request, how it ended, how big and how long. Never the
 * reply topic, the correlation data, spot ids or anything of the query: nothing that tells devices or queries apart.
 */
export interface AnswerEvent {
  request: 'query' | 'region';
  /** 'answered' (a reply or a region pack), or the wire error code sent back. */
  outcome: 'answered' | WireErrorCode;
  /** Candidates in a reply, spots in a region pack; 0 for an error. */
  items: number;
  /** From taking the message off the wire (before decoding) to the broker's acknowledgement of the answer. */
  seconds: number;
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

const GROUP_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Leaving the group: quiet time that ends the drain, and its longest wait. */
const DRAIN_QUIET_MS = 250;
const DRAIN_MAX_MS = 5_000;

function errorReply(code: WireErrorCode, message: string): ErrorMessage {
  return { type: 'error', code, message };
}

/** Where and how an answer goes: the request's reply address, and whether it came in the envelope (3.1.1 device). */
interface ReplyRoute {
  topic: string;
  correlationData: Uint8Array;
  inEnvelope: boolean;
  /** For the observer: the request's kind and when it came off the wire (performance.now()). */
  request: AnswerEvent['request'];
  receivedAt: number;
}

export class RecognizerEndpoint {
  private readonly opts: RecognizerEndpointOptions;
  private readonly log: Logger;
  private readonly group: string;
  private readonly shared: boolean;
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
    this.group = opts.group;
    this.shared = opts.shared ?? protocolVersionOf(opts) === 5;
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
    // 22 characters: MQTT 3.1.1 brokers need only accept client ids of up to 23.
    const client = createBrokerClient(this.opts, `enfpire-rec-${randomBytes(5).toString('hex')}`);
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
    this.log.info(
      {
        broker: redactUrl(this.opts.url),
        protocolVersion: protocolVersionOf(this.opts),
        group: this.shared ? this.group : null,
        model: this.announced.model,
      },
      'recognizer endpoint ready',
    );
  }

  async stop(): Promise<void> {
    const client = this.mqtt;
    if (client?.connected && !this.stopped) await this.leaveGroup(client);
    this.stopped = true;
    this.mqtt = undefined;
    this.c.state = 'offline';
    // The retained announcement stays: other instances of the group may still be serving.
    if (client) await endClient(client);
  }

  /**
   * Leaves the group without losing a request (a rolling update stops recognizers one by one while devices query):
   * unsubscribes, so the broker gives new requests to the other members, then keeps answering what was already on
   * its way until nothing has arrived for DRAIN_QUIET_MS and nothing is being answered (at most DRAIN_MAX_MS).
   * Disconnecting at once lost the requests the broker had queued or sent to this member (issue #12).
   */
  private async leaveGroup(client: MqttClient): Promise<void> {
    const prefix = this.shared ? `$share/${this.group}/` : '';
    try {
      await client.unsubscribeAsync([prefix + requestFilter('query'), prefix + requestFilter('region')]);
    } catch {
      return;
    }
    const deadline = Date.now() + DRAIN_MAX_MS;
    let seen = this.c.queries + this.c.regions + this.c.dropped;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_QUIET_MS));
      const now = this.c.queries + this.c.regions + this.c.dropped;
      if ((now === seen && this.c.inFlight === 0) || Date.now() >= deadline) return;
      seen = now;
    }
  }

  /** Re-reads handler.info() and re-publishes it retained (call after the gallery changed). */
  async publishInfo(): Promise<void> {
    this.announced = this.checkedInfo();
    const client = this.mqtt;
    // While offline the next connection publishes it.
    if (!client?.connected) return;
    await client.publishAsync(TOPICS.info, this.signed(encode(this.announced)), { qos: 1, retain: true });
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
      const prefix = this.shared ? `$share/${this.group}/` : '';
      const grants = await client.subscribeAsync({
        [prefix + requestFilter('query')]: { qos: 1 },
        [prefix + requestFilter('region')]: { qos: 1 },
      });
      if (grants.some((g) => g.qos >= 0x80)) {
        throw new UserError(
          this.shared
            ? `The MQTT broker at ${redactUrl(this.opts.url)} refused the shared subscriptions of group ${this.group}: ` +
              'use a broker with MQTT v5 shared subscriptions and allow the recognizer to subscribe to enfpire/v1/#.'
            : `The MQTT broker at ${redactUrl(this.opts.url)} refused the subscriptions to ${requestFilter('query')} and ` +
              `${requestFilter('region')}: allow the recognizer to subscribe to enfpire/v1/#.`,
        );
      }
      await this.publishInfo();
      if (client === this.mqtt) this.c.state = 'connected';
    })();
    this.ready.catch((err: Error) => this.log.error({ err: err.message }, 'recognizer endpoint setup failed'));
  }

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const receivedAt = performance.now();
    const requester = parseRequestTopic(topic);
    if (!requester) return this.drop(`message on unexpected topic ${topic.slice(0, 80)}`);
    const expected = requester.kind === 'query' ? 'query' : 'region-request';

    let msg: WireMessage | undefined;
    let invalid: WireError | undefined;
    let envelope: EnvelopeRouting | undefined;
    try {
      ({ msg, routing: envelope } = decodeRouted(payload, this.opts.limits));
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      invalid = err;
      envelope = err.routing;
    }

    // Routing first: without a valid reply address there is nobody to tell what was wrong. MQTT v5 properties win;
    // a 3.1.1 device (no properties) puts the address in the envelope, where the codec already checked it.
    const props = packet.properties;
    const inEnvelope = props?.responseTopic === undefined && props?.correlationData === undefined;
    const responseTopic = inEnvelope ? envelope?.responseTopic : props?.responseTopic;
    const correlationData = inEnvelope ? envelope?.correlationData : props?.correlationData;
    if (!isReplyTopic(responseTopic)) {
      return this.drop(`${expected} without a valid response topic${invalid && inEnvelope ? ` (${invalid.message})` : ''}`);
    }
    if (!isCorrelationData(correlationData)) {
      return this.drop(`${expected} without valid correlation data (1-${WIRE_BOUNDS.maxCorrelationBytes} bytes)`);
    }
    // Answers go only where the requester itself reads: a request naming another client's reply topic (to flood a
    // victim with region packs, or to learn its traffic) gets no answer at all.
    if (responseTopic !== TOPICS.replyPrefix + requester.clientId) {
      return this.drop(`${expected} from one client asking for the answer on another client's reply topic`);
    }
    const request = requester.kind;
    const route: ReplyRoute = { topic: responseTopic, correlationData, inEnvelope, request, receivedAt };
    const reply = (answer: WireMessage) => this.reply(route, answer);

    if (!msg) {
      const reason = invalid?.message ?? 'undecodable payload';
      this.drop(`invalid ${expected}: ${reason}`);
      // The sender is reachable, so say why instead of letting it time out.
      return reply(errorReply('bad-request', reason));
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
      answer = msg.type === 'query' ? await this.opts.handler.query(msg) : await this.opts.handler.region(msg);
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

  /** Answers the way the request was addressed: correlation as MQTT v5 property, or in the envelope for 3.1.1. */
  private async reply(route: ReplyRoute, msg: WireMessage): Promise<void> {
    const routing = route.inEnvelope ? { correlationData: route.correlationData } : undefined;
    let payload: Buffer;
    try {
      payload = encode(msg, routing);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.log.error({ err: err.message }, 'could not encode the reply');
      msg = errorReply('internal', 'the recognizer produced an invalid reply');
      payload = encode(msg, routing);
    }
    if (payload.length > this.opts.limits.maxBytes) {
      // The device would drop it anyway; tell it why instead.
      this.log.error({ bytes: payload.length, maxBytes: this.opts.limits.maxBytes }, 'reply larger than the wire limit');
      msg = errorReply('too-large', `the reply has ${payload.length} bytes, more than the ${this.opts.limits.maxBytes} allowed`);
      payload = encode(msg, routing);
    }
    // In 3.1.1 mode the correlation data is inside the signed message; in v5 it travels beside it and is signed too.
    payload = this.signed(payload, route.inEnvelope ? undefined : route.correlationData);
    if (msg.type === 'error') this.c.errors++;
    const client = this.mqtt;
    if (!client || this.stopped) return;
    this.c.replies++;
    try {
      await client.publishAsync(
        route.topic,
        payload,
        route.inEnvelope ? { qos: 1 } : { qos: 1, properties: { correlationData: Buffer.from(route.correlationData) } },
      );
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not publish a reply');
      return;
    }
    this.observe(route, msg);
  }

  private observe(route: ReplyRoute, msg: WireMessage): void {
    const observer = this.opts.onAnswer;
    if (!observer) return;
    const outcome = msg.type === 'error' ? msg.code : 'answered';
    const items = msg.type === 'reply' ? (msg.digests?.length ?? msg.candidates.length) : msg.type === 'region-pack' ? msg.spots.length : 0;
    try {
      observer({ request: route.request, outcome, items, seconds: (performance.now() - route.receivedAt) / 1000 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'the answer observer failed');
    }
  }

  private signed(payload: Buffer, correlationData?: Uint8Array): Buffer {
    return this.opts.signer ? this.opts.signer.wrap(payload, correlationData) : payload;
  }

  private drop(reason: string): void {
    this.c.dropped++;
    this.log.warn(`dropped ${reason}`);
  }
}
