/**
 * The one place that opens an MQTT connection, shared by the device client and the recognizer endpoint, so both
 * fail the same clear way when the broker is unreachable. MQTT v5 by default; 3.1.1 (protocol level 4) for brokers
 * without v5, such as the demo's embedded aedes (docs/protocol.md, "MQTT 3.1.1 compatibility mode").
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { UserError } from '../util/errors.js';

/** 5: MQTT v5. 4: MQTT 3.1.1 compatibility mode (reply address in the payload, no shared subscriptions). */
export type MqttProtocolVersion = 5 | 4;

/** Where the broker is and how to log in. Fleet credentials only: nothing here may identify one device. */
export interface BrokerOptions {
  /** mqtt://host:port, mqtts://… (TLS), ws://…, wss://… */
  url: string;
  /** MQTT protocol level (default 5). */
  protocolVersion?: MqttProtocolVersion;
  username?: string;
  password?: string;
  /** PEM: CA bundle to trust, and a client certificate/key pair for mutual TLS. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** How long the first connection may take before start() gives up (default 10 s). */
  connectTimeoutMs?: number;
  /** Pause between reconnection attempts after the first connection (default 2 s). */
  reconnectPeriodMs?: number;
  /**
   * MQTT keep-alive (default 30 s): a client silent for 1.5 times this is dropped by the broker. Recognizers set it
   * short (the recognizer schema's broker.keepaliveSeconds) so that a hung member leaves the shared group quickly.
   */
  keepaliveSeconds?: number;
}

/** A client id that says nothing about who connects: 22 random hex characters (MQTT guarantees up to 23). */
export function randomClientId(): string {
  return randomBytes(11).toString('hex');
}

/** The URL with any password in it masked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** The configured protocol level; a UserError for anything but 5 or 4 (options may come from a config file). */
export function protocolVersionOf(opts: BrokerOptions): MqttProtocolVersion {
  const v: unknown = opts.protocolVersion ?? 5;
  if (v !== 5 && v !== 4) {
    throw new UserError(
      `The MQTT protocol version ${JSON.stringify(v)} is not supported: the broker connection's protocolVersion option ` +
        'takes 5 (MQTT v5, the default) or 4 (MQTT 3.1.1 compatibility mode).',
    );
  }
  return v;
}

function unreachable(opts: BrokerOptions, reason: string, cause?: unknown): UserError {
  return new UserError(
    `Cannot connect to the MQTT broker at ${redactUrl(opts.url)} (${reason}): check that the broker runs and is ` +
      'reachable, and that the broker URL, username/password and TLS files in the configuration are right.',
    { cause },
  );
}

/** CONNACK codes for "unacceptable protocol version": 3.1.1's 1, v5's 0x84. */
const PROTOCOL_REFUSED = new Set([1, 0x84]);

function connectFailure(opts: BrokerOptions, err: Error): UserError {
  const code = (err as Error & { code?: unknown }).code;
  if (protocolVersionOf(opts) === 5 && PROTOCOL_REFUSED.has(code as number)) {
    return new UserError(
      `The MQTT broker at ${redactUrl(opts.url)} does not accept MQTT v5: point transport.url (edge) or broker.url ` +
        '(recognizer) at an MQTT v5 broker such as Mosquitto 2, EMQX or HiveMQ. The daemons speak only MQTT v5; the ' +
        "3.1.1 compatibility mode is for the demo's embedded broker and no profile setting turns it on.",
      { cause: err },
    );
  }
  return unreachable(opts, err.message, err);
}

/**
 * Creates an MQTT client (v5 unless opts.protocolVersion is 4) with clean start, no will and no session kept on the
 * broker. It connects and later reconnects on its own; attach listeners (an 'error' one at least) before the next tick.
 */
export function createBrokerClient(opts: BrokerOptions, clientId: string): MqttClient {
  const v5 = protocolVersionOf(opts) === 5;
  const options: IClientOptions = {
    protocolVersion: v5 ? 5 : 4,
    clientId,
    clean: true,
    // Subscriptions are made by our own 'connect' handlers, once per connection.
    resubscribe: false,
    reconnectPeriod: opts.reconnectPeriodMs ?? 2_000,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    keepalive: opts.keepaliveSeconds ?? 30,
    // In 3.1.1, clean session alone already discards the session at disconnect.
    ...(v5 ? { properties: { sessionExpiryInterval: 0 } } : {}),
    username: opts.username,
    password: opts.password,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
  };
  try {
    const client = mqtt.connect(opts.url, options);
    // Queries and replies are small request/response messages: Nagle's algorithm held each one back waiting for an
    // ACK and doubled the round trip (about 90 ms → 45 ms on loopback, measured by the eval harness).
    client.on('connect', () => {
      const socket = client.stream as { setNoDelay?: (on: boolean) => unknown };
      socket.setNoDelay?.(true);
    });
    return client;
  } catch (err) {
    throw unreachable(opts, err instanceof Error ? err.message : String(err), err);
  }
}

/**
 * Resolves at the client's next 'connect'; rejects with a UserError naming the URL at its first 'error' or after
 * connectTimeoutMs. Leaves the client running either way: the caller decides whether to end it or let it retry.
 */
export function whenConnected(client: MqttClient, opts: BrokerOptions): Promise<void> {
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    const onError = (err: Error) => done(connectFailure(opts, err));
    const timer = setTimeout(() => done(unreachable(opts, `no answer within ${timeoutMs} ms`)), timeoutMs);
    client.on('connect', onConnect);
    client.on('error', onError);
  });
}

/** Ends a client politely (DISCONNECT, so the broker drops the session at once), forcefully if that stalls. */
export async function endClient(client: MqttClient, graceMs = 1_000): Promise<void> {
  if (!client.connected) {
    await client.endAsync(true).catch(() => undefined);
    return;
  }
  const ended = client.endAsync(false).then(() => true, () => true);
  // A polite end waits for in-flight QoS 1 acknowledgements, which a dying broker never sends.
  if (!(await withinMs(ended, graceMs))) {
    client.stream?.destroy();
    await withinMs(ended, graceMs);
  }
}

/** Waits for `p` at most `ms`; true when it settled in time. */
async function withinMs(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
