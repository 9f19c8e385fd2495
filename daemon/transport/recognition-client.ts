/**
 * The device side of the wire (DESIGN §5): MQTT v5 request/response to whichever recognizer takes the query off the
 * shared subscription. Unlinkability rules live here: a random client id and reply topic per identity, no will, no
 * availability or status topic, nothing published except requests. With protocolVersion 4 (MQTT 3.1.1 compatibility
 * mode) the same random reply topic and correlation data travel in the envelope instead of MQTT v5 properties.
 * With pinned operator keys (signing.ts) every answer and announcement must carry a valid signature; anything else is
 * counted, logged and dropped without touching the request it claims to answer, so a forged reply that arrives first
 * cannot displace the real one.
 */
import { EventEmitter, once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { MqttClient, IPublishPacket } from 'mqtt';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { UserError } from '../util/errors.js';
import { decode, decodeRouted, encode, WireError } from './codec.js';
import { SignatureError, TrustedKeys } from './signing.js';
import {
  createBrokerClient,
  endClient,
  protocolVersionOf,
  randomClientId,
  redactUrl,
  whenConnected,
  type BrokerOptions,
} from './broker.js';
import {
  TOPICS,
  requestTopic,
  type QueryMessage,
  type RecognizerInfoMessage,
  type RegionPackMessage,
  type ReplyMessage,
  type WireErrorCode,
  type WireLimits,
  type WireMessage,
} from './messages.js';

export interface RecognitionClientOptions extends BrokerOptions {
  limits: WireLimits;
  /** Our model id; the recognizer must announce the same one (and limits.dimension). */
  model: string;
  /** How long a request waits for its reply (transport.requestTimeoutMs: required, its default is the schema's). */
  requestTimeoutMs: number;
  /**
   * How long fetchRegion waits for each page of the region pack when a recognizer is announced
   * (transport.regionTimeoutMs): ~2.1 MB a page, or 22 MB for a whole 10,555-spot pack from a recognizer before pages,
   * which a slow link cannot bring within a query's timeout. Without an announcement, and by default,
   * requestTimeoutMs: nobody may be there to answer, and a device without a recognizer should say so at once.
   */
  regionTimeoutMs?: number;
  /** How long start() waits for the retained recognizer info (default 1 s; it normally arrives with the SUBACK). */
  infoWaitMs?: number;
  logger?: Logger;
  /** The operator's public keys; when any is pinned, unsigned or mis-signed answers and announcements are refused. */
  trustedKeys?: TrustedKeys;
}

export type ClientState = 'connecting' | 'connected' | 'offline';

/** For the local health API. Byte counts are payload bytes, without MQTT framing. */
export interface RecognitionClientCounters {
  state: ClientState;
  sent: number;
  received: number;
  dropped: number;
  /** Of `dropped`: answers and announcements refused for a missing, unknown or invalid operator signature. */
  unauthenticated: number;
  timeouts: number;
  pending: number;
  bytesOut: number;
  bytesIn: number;
}

/** The recognizer answered with an error message; WIRE_ERROR_CODES (error-codes.ts) says what `code` asks of the device. */
export class RecognizerError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(`recognizer error ${code}: ${message}`);
    this.name = 'RecognizerError';
  }
}

/** Whole fetches of a region pack tried when its pages come from different galleries. */
const REGION_FETCH_ATTEMPTS = 3;

/** Requests for one page of a region pack before a fetch gives up on it (each waits regionTimeoutMs). */
const REGION_PAGE_ATTEMPTS = 3;

/** The pages of one region pack fetch came from different galleries, or did not count alike. */
export class RegionPagesMixedError extends WireError {
  override name = 'RegionPagesMixedError';
}

/** No reply came within requestTimeoutMs. */
export class RequestTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestTimeoutError';
  }
}

interface Identity {
  clientId: string;
  replyTopic: string;
}

interface Pending {
  expect: 'reply' | 'region-pack';
  region?: string;
  resolve(msg: WireMessage): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  settled: Promise<unknown>;
}

interface ClientEvents {
  /** A (new) recognizer announcement arrived; `undefined` when the retained announcement was cleared. */
  info: [RecognizerInfoMessage | undefined];
  state: [ClientState];
}

/**
 * A new random client id, and the reply topic named after it, so a broker can let each connection read only its own
 * replies (`pattern read enfpire/v1/reply/%c`). The id is random per identity: it names nothing about the device.
 */
function freshIdentity(): Identity {
  const clientId = randomClientId();
  return { clientId, replyTopic: TOPICS.replyPrefix + clientId };
}

export class RecognitionClient extends EventEmitter<ClientEvents> {
  private readonly opts: RecognitionClientOptions;
  private readonly log: Logger;
  private readonly requestTimeoutMs: number;
  /** MQTT 3.1.1 compatibility mode: the reply address travels in the envelope. */
  private readonly v4: boolean;
  private readonly trust: TrustedKeys;
  private mqtt: MqttClient | undefined;
  private ident: Identity = freshIdentity();
  /** When the current identity was made (wall clock), for the identity age on the operator's page. */
  private identSince = Date.now();
  private ready: Promise<void> = Promise.resolve();
  private currentInfo: RecognizerInfoMessage | undefined;
  private readonly pending = new Map<string, Pending>();
  private rotation: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  private readonly c: RecognitionClientCounters = {
    state: 'offline',
    sent: 0,
    received: 0,
    dropped: 0,
    unauthenticated: 0,
    timeouts: 0,
    pending: 0,
    bytesOut: 0,
    bytesIn: 0,
  };

  constructor(opts: RecognitionClientOptions) {
    super();
    this.opts = opts;
    this.log = opts.logger ?? silentLogger();
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.v4 = protocolVersionOf(opts) === 4;
    this.trust = opts.trustedKeys ?? new TrustedKeys();
  }

  /**
   * Connects (UserError naming the URL when the broker is unreachable), subscribes to our reply topic and the
   * recognizer announcement, and waits briefly for that announcement.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('RecognitionClient.start() called twice');
    this.started = true;
    const client = this.open();
    try {
      await whenConnected(client, this.opts);
      await this.ready;
    } catch (err) {
      this.mqtt = undefined;
      this.setState('offline');
      await endClient(client);
      throw err;
    }
    if (!this.currentInfo) await this.waitForInfo(this.opts.infoWaitMs ?? 1_000);
    this.log.info(
      { broker: redactUrl(this.opts.url), recognizer: this.currentInfo?.model ?? null },
      this.currentInfo ? 'connected to the recognition broker' : 'connected to the recognition broker; no recognizer announced yet',
    );
  }

  /** Ends the connection; pending requests are rejected. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.failPending('the recognition client was stopped');
    const client = this.mqtt;
    this.mqtt = undefined;
    this.setState('offline');
    if (client) await endClient(client);
    await this.rotation?.catch(() => undefined);
  }

  /** The latest recognizer announcement, if any arrived. */
  info(): RecognizerInfoMessage | undefined {
    return this.currentInfo;
  }

  /** The current MQTT client id and reply topic (random; both change with rotateIdentity()). */
  identity(): Readonly<Identity> {
    return { ...this.ident };
  }

  /** Milliseconds the current identity has existed. */
  identityAgeMs(now = Date.now()): number {
    return now - this.identSince;
  }

  counters(): RecognitionClientCounters {
    return { ...this.c, pending: this.pending.size };
  }

  /** Sends a (transformed) query; resolves with the candidates. */
  async query(q: QueryMessage): Promise<ReplyMessage> {
    // Caught here rather than by the recognizer: an odd-sized or foreign query would stand out on the wire.
    if (q.model !== this.opts.model) throw new WireError(`query is for model ${q.model}, this client runs ${this.opts.model}`);
    if (q.vector.length !== this.opts.limits.dimension) {
      throw new WireError(`query vector has ${q.vector.length} values, expected ${this.opts.limits.dimension}`);
    }
    return (await this.request(q, 'reply')) as ReplyMessage;
  }

  /**
   * Fetches the spots of one region ('*' for the whole gallery) for decoy synthesis, page by page (decision 68): each
   * page is a message of its own, so a slow or dropped link costs a page, not the pack (a page not answered in time is
   * asked for again, up to REGION_PAGE_ATTEMPTS times). A recognizer before paging
   * answers the first request with the whole pack. Pages of different galleries (the group's recognizers were updated
   * and the announcement changed between two pages) start the fetch again, a few times at most. Any other failure
   * ends the fetch (a page from another gallery than the one announced is refused like any invalid reply).
   */
  async fetchRegion(region: string): Promise<RegionPackMessage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fetchRegionPages(region);
      } catch (err) {
        if (!(err instanceof RegionPagesMixedError) || attempt >= REGION_FETCH_ATTEMPTS) throw err;
        this.log.warn({ region, attempt, err: err.message }, 'the pages of the region pack came from different galleries; fetching it again');
      }
    }
  }

  /** The region's pages joined into one pack. */
  private async fetchRegionPages(region: string): Promise<RegionPackMessage> {
    const timeoutMs = this.currentInfo ? (this.opts.regionTimeoutMs ?? this.requestTimeoutMs) : this.requestTimeoutMs;
    // A page nobody answered in time is asked for again, on the same identity: a dropped answer costs that page, and
    // a repeated request tells the broker nothing it did not know (the region). Any other failure ends the fetch.
    const page = async (n: number): Promise<RegionPackMessage> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return (await this.request({ type: 'region-request', model: this.opts.model, region, page: n }, 'region-pack', region, timeoutMs)) as RegionPackMessage;
        } catch (err) {
          if (!(err instanceof RequestTimeoutError) || attempt >= REGION_PAGE_ATTEMPTS) throw err;
          this.log.warn({ region, page: n, attempt }, 'no answer for a page of the region pack in time; asking for that page again');
        }
      }
    };
    const first = await page(0);
    if (first.pages === undefined) return first;
    const spots = [...first.spots];
    for (let n = 1; n < first.pages; n++) {
      const next = await page(n);
      if (next.page !== n || next.pages !== first.pages || next.galleryVersion !== first.galleryVersion) {
        throw new RegionPagesMixedError(
          `region pack '${region}': page 0 of ${first.pages} came from gallery ${first.galleryVersion}, page ${String(next.page)} of ${String(next.pages)} from gallery ${next.galleryVersion}; the recognizers of this broker serve different galleries`,
        );
      }
      // Each page is within the wire limits; their sum must be too, or a recognizer could page the device out of memory.
      if (spots.length + next.spots.length > this.opts.limits.maxSpots) {
        throw new WireError(`region pack '${region}' holds more than ${this.opts.limits.maxSpots} spots over its ${first.pages} pages`);
      }
      spots.push(...next.spots);
    }
    return { type: 'region-pack', model: first.model, region: first.region, galleryVersion: first.galleryVersion, spots };
  }

  /**
   * Reconnects under a fresh random client id and reply topic. Requests already in flight are allowed to finish (or
   * time out) on the old identity first; requests made meanwhile wait for the new one. Nothing is re-sent under the
   * new identity, since a repeated payload would link the two. Resolves once the new identity is connected or, when
   * the broker is down, after connectTimeoutMs (the client then keeps retrying in the background). `pause`, when
   * given, is awaited between the old identity's disconnect and the new one's connect; false from it means "stopping":
   * no new identity is connected.
   */
  rotateIdentity(pause?: () => Promise<boolean>): Promise<void> {
    if (!this.started || this.stopped) return Promise.reject(new Error('the recognition client is not running'));
    this.rotation ??= this.rotate(pause).finally(() => {
      this.rotation = undefined;
    });
    return this.rotation;
  }

  private async rotate(pause?: () => Promise<boolean>): Promise<void> {
    await Promise.allSettled([...this.pending.values()].map((p) => p.settled));
    if (this.stopped) return;
    const old = this.mqtt;
    this.mqtt = undefined;
    this.setState('offline');
    if (old) await endClient(old);
    // A disconnect followed at once by a connect from the same address is easy to pair up; a random pause is not.
    // A pause cut short means the device is stopping: connecting a new identity only to drop it would show on the broker.
    if (pause && !(await pause())) return;
    if (this.stopped) return;
    const client = this.open();
    try {
      await whenConnected(client, this.opts);
      await this.ready;
      this.log.info('recognition client identity rotated');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'new identity not connected yet; retrying in the background');
    }
  }

  /** Creates the MQTT client for a fresh identity and wires its events; only the current client's events count. */
  private open(): MqttClient {
    this.ident = freshIdentity();
    this.identSince = Date.now();
    this.setState('connecting');
    const client = createBrokerClient(this.opts, this.ident.clientId);
    this.mqtt = client;
    const current = () => client === this.mqtt;
    client.on('connect', () => {
      if (current()) this.onConnect(client);
    });
    client.on('message', (topic, payload, packet) => {
      if (current()) this.onMessage(topic, payload, packet);
    });
    client.on('reconnect', () => {
      if (current()) this.setState('connecting');
    });
    client.on('close', () => {
      if (!current()) return;
      if (this.c.state === 'connected') this.log.warn({ broker: redactUrl(this.opts.url) }, 'lost the connection to the recognition broker');
      this.setState('offline');
      // Clean start: the reply subscription dies with the connection, so these replies can no longer arrive.
      this.failPending('lost the connection to the recognition broker');
    });
    // Without a listener an 'error' event would throw; connection problems show up as state changes instead.
    client.on('error', (err) => {
      if (current() && this.c.state === 'connected') this.log.warn({ err: err.message }, 'recognition broker error');
    });
    return client;
  }

  private onConnect(client: MqttClient): void {
    const { replyTopic } = this.ident;
    this.ready = (async () => {
      const grants = await client.subscribeAsync({ [replyTopic]: { qos: 1 }, [TOPICS.info]: { qos: 1 } });
      const refused = grants.filter((g) => g.qos >= 0x80).map((g) => g.topic);
      if (refused.length > 0) {
        throw new UserError(
          `The MQTT broker at ${redactUrl(this.opts.url)} refused the subscription to ${refused.join(', ')}: ` +
            'allow the fleet credentials to read enfpire/v1/reply/%c (their own client id) and enfpire/v1/recognizer/info.',
        );
      }
      if (client === this.mqtt) this.setState('connected');
    })();
    this.ready.catch((err: Error) => this.log.error({ err: err.message }, 'subscription failed'));
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    this.c.bytesIn += payload.length;
    if (topic === TOPICS.info) this.onInfo(payload);
    else if (topic === this.ident.replyTopic) this.onReply(payload, packet);
    else this.drop(`message on unexpected topic ${topic.slice(0, 80)}`);
  }

  private onInfo(payload: Buffer): void {
    if (payload.length === 0 && !this.trust.pinned) {
      // An empty retained message deletes the announcement.
      this.currentInfo = undefined;
      this.log.warn('recognizer announcement withdrawn');
      this.emit('info', undefined);
      return;
    }
    const message = this.opened(payload, undefined, 'recognizer announcement');
    if (!message) return;
    let msg: WireMessage;
    try {
      msg = decode(message, this.opts.limits);
    } catch (err) {
      return this.drop(`invalid recognizer announcement: ${(err as Error).message}`);
    }
    if (msg.type !== 'info') return this.drop(`recognizer announcement is a ${msg.type} message`);
    const changed = msg.model !== this.currentInfo?.model || msg.galleryVersion !== this.currentInfo?.galleryVersion;
    this.currentInfo = msg;
    const problem = this.incompatibility();
    if (problem) this.log.error(problem);
    else if (changed) this.log.info({ model: msg.model, galleryVersion: msg.galleryVersion, spots: msg.spots }, 'recognizer announced');
    this.emit('info', msg);
  }

  private onReply(payload: Buffer, packet: IPublishPacket): void {
    // Checked before anything else: an unauthenticated message must not settle (or even find) a pending request.
    const message = this.opened(payload, packet.properties?.correlationData, 'reply');
    if (!message) return;
    // Decoded before matching: a 3.1.1 recognizer's answer carries its correlation data in the envelope.
    let msg: WireMessage | undefined;
    let invalid: WireError | undefined;
    let envelopeCorrelation: Uint8Array | undefined;
    try {
      const routed = decodeRouted(message, this.opts.limits);
      msg = routed.msg;
      envelopeCorrelation = routed.routing?.correlationData;
    } catch (err) {
      invalid = err as WireError;
      envelopeCorrelation = invalid.routing?.correlationData;
    }
    const corr = packet.properties?.correlationData ?? envelopeCorrelation;
    const key = corr instanceof Uint8Array ? Buffer.from(corr).toString('hex') : undefined;
    const entry = key === undefined ? undefined : this.pending.get(key);
    if (!entry || key === undefined) {
      return this.drop(invalid ? `invalid reply: ${invalid.message}` : 'reply with unknown correlation data (late, duplicate or not ours)');
    }
    this.pending.delete(key);
    clearTimeout(entry.timer);

    if (!msg) {
      const reason = invalid?.message ?? 'undecodable payload';
      this.drop(`invalid reply: ${reason}`);
      return entry.reject(new WireError(`invalid reply from the recognizer: ${reason}`));
    }
    if (msg.type === 'error') {
      this.c.received++;
      return entry.reject(new RecognizerError(msg.code, msg.message));
    }
    let problem: string | undefined;
    if (msg.type !== entry.expect) problem = `expected a ${entry.expect} message, got ${msg.type}`;
    else if (msg.model !== this.opts.model) problem = `reply is for model ${msg.model}, not ${this.opts.model}`;
    else if (msg.type === 'region-pack' && msg.region !== entry.region) problem = `region pack is for ${msg.region}, not ${entry.region}`;
    else if (msg.type === 'region-pack' && this.currentInfo && msg.galleryVersion !== this.currentInfo.galleryVersion) {
      problem = `region pack is from gallery ${msg.galleryVersion}, the recognizer announces gallery ${this.currentInfo.galleryVersion}`;
    }
    if (problem) {
      this.drop(`invalid reply: ${problem}`);
      return entry.reject(new WireError(`invalid reply from the recognizer: ${problem}`));
    }
    this.c.received++;
    entry.resolve(msg);
  }

  private async request(msg: WireMessage, expect: Pending['expect'], region?: string, timeoutMs = this.requestTimeoutMs): Promise<WireMessage> {
    if (!this.started || this.stopped) throw new Error('the recognition client is not running');
    if (this.rotation) await this.rotation;
    const client = this.mqtt;
    // Fail fast rather than queue: a burst of stale queries after a reconnect would break the cover-traffic timing.
    if (!client || this.c.state !== 'connected') {
      throw new Error(`not connected to the recognition broker at ${redactUrl(this.opts.url)}`);
    }
    const problem = this.incompatibility();
    if (problem) throw new UserError(problem);

    const correlationData = randomBytes(16);
    const key = correlationData.toString('hex');
    // v5: the reply address goes in MQTT properties and the payload is exactly the documented message.
    const payload = this.v4 ? encode(msg, { responseTopic: this.ident.replyTopic, correlationData }) : encode(msg);
    let entry!: Pending;
    const result = new Promise<WireMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.get(key) !== entry) return;
        this.pending.delete(key);
        this.c.timeouts++;
        reject(new RequestTimeoutError(`no reply from a recognizer within ${timeoutMs} ms`));
      }, timeoutMs);
      entry = { expect, region, resolve, reject, timer, settled: Promise.resolve() };
    });
    entry.settled = result.catch(() => undefined);
    this.pending.set(key, entry);

    client.publish(
      requestTopic(msg.type === 'query' ? 'query' : 'region', this.ident.clientId),
      payload,
      this.v4
        ? // 3.1.1 has no message expiry: a stale request may still be answered, and its late reply is dropped.
          { qos: 1 }
        : {
            qos: 1,
            properties: {
              responseTopic: this.ident.replyTopic,
              correlationData,
              // A query nobody took before we gave up on it is worthless: let the broker discard it.
              messageExpiryInterval: Math.max(1, Math.ceil(timeoutMs / 1000)),
            },
          },
      (err) => {
        if (!err || this.pending.get(key) !== entry) return;
        this.pending.delete(key);
        clearTimeout(entry.timer);
        entry.reject(new Error(`could not publish the request: ${err.message}`));
      },
    );
    this.c.sent++;
    this.c.bytesOut += payload.length;
    return result;
  }

  /** Why we must not query the announced recognizer, or undefined when it matches (or nothing was announced). */
  private incompatibility(): string | undefined {
    const info = this.currentInfo;
    if (!info || (info.model === this.opts.model && info.dimension === this.opts.limits.dimension)) return undefined;
    return (
      `The recognizer at ${redactUrl(this.opts.url)} serves model ${info.model} (dimension ${info.dimension}) but this ` +
      `device runs model ${this.opts.model} (dimension ${this.opts.limits.dimension}): install the matching model on ` +
      'the device or point it at a recognizer for its model.'
    );
  }

  private failPending(reason: string): void {
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(reason));
    }
    this.pending.clear();
  }

  /** The message inside a payload whose signature checks out (see TrustedKeys.open), or undefined once dropped. */
  private opened(payload: Buffer, correlationData: Uint8Array | undefined, what: string): Uint8Array | undefined {
    try {
      return this.trust.open(payload, correlationData, this.opts.limits.maxBytes);
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      this.c.unauthenticated++;
      this.drop(`unauthenticated ${what}: ${err.message}`);
      return undefined;
    }
  }

  private drop(reason: string): void {
    this.c.dropped++;
    this.log.warn(`dropped ${reason}`);
  }

  private setState(state: ClientState): void {
    if (this.c.state === state) return;
    this.c.state = state;
    this.emit('state', state);
  }

  private async waitForInfo(ms: number): Promise<void> {
    try {
      await once(this as EventEmitter, 'info', { signal: AbortSignal.timeout(ms) });
    } catch {
      // Nothing announced yet: queries are still allowed, the recognizer checks the model itself.
    }
  }
}
