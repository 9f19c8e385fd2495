/**
 * The one place that opens an MQTT v5 connection, shared by the device client and the recognizer endpoint, so both
 * fail the same clear way when the broker is unreachable.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { UserError } from '../util/errors.js';

/** Where the broker is and how to log in. Fleet credentials only: nothing here may identify one device. */
export interface BrokerOptions {
  /** mqtt://host:port, mqtts://… (TLS), ws://…, wss://… */
  url: string;
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

function unreachable(opts: BrokerOptions, reason: string, cause?: unknown): UserError {
  return new UserError(
    `Cannot connect to the MQTT broker at ${redactUrl(opts.url)} (${reason}): check that the broker runs and is ` +
      'reachable, and that the broker URL, username/password and TLS files in the configuration are right.',
    { cause },
  );
}

/**
 * Creates an MQTT v5 client with clean start, no will and no session kept on the broker. It connects and later
 * reconnects on its own; attach listeners (an 'error' one at least) before the next tick.
 */
export function createBrokerClient(opts: BrokerOptions, clientId: string): MqttClient {
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId,
    clean: true,
    // Subscriptions are made by our own 'connect' handlers, once per connection.
    resubscribe: false,
    reconnectPeriod: opts.reconnectPeriodMs ?? 2_000,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    keepalive: 30,
    properties: { sessionExpiryInterval: 0 },
    username: opts.username,
    password: opts.password,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
  };
  try {
    return mqtt.connect(opts.url, options);
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
    const onError = (err: Error) => done(unreachable(opts, err.message, err));
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
