/**
 * The wiretap's ear on the broker, shared by the in-process `Wiretap` and the wiretap thread (`wiretap-worker.ts`):
 * one MQTT client subscribed to every query and every reply, and the decoding of each message into what a curious
 * server learns from it. Both wiretaps read the wire through here, so they cannot come to see different things;
 * they differ only in where the message is stamped (docs/privacy.md, "On the wall clock").
 */
import type { IPublishPacket, MqttClient } from 'mqtt';
import { decodeRouted } from '../transport/codec.js';
import { createBrokerClient, endClient, randomClientId, whenConnected, type BrokerOptions } from '../transport/broker.js';
import { TOPICS, parseRequestTopic, requestFilter, type WireLimits } from '../transport/messages.js';
import { TrustedKeys } from '../transport/signing.js';

/** No pinned key: unwraps signed answers without checking them, as any eavesdropper can. */
const UNCHECKED = new TrustedKeys();

/**
 * One message as the server reads it, keyed by its correlation data (hex) so a reply finds its query. Plain data:
 * it crosses from the wiretap thread by structured cloning.
 */
export type TappedMessage =
  | {
      kind: 'query';
      key: string;
      reply_topic: string;
      /** Dequantised as the recognizer decoded it, to 6 decimals (far finer than the int8 wire form). */
      vector: number[];
      topM: number;
    }
  /**
   * A reply (its candidate ids, best first, or their spot digests when the query asked for digests; the ledger turns
   * those back into ids, as a server knows its gallery) or an error answer (neither).
   */
  | { kind: 'answer'; key: string; candidates?: string[]; digests?: number[] };

/**
 * What one message on the tapped topics tells the server; undefined for one that is neither a query nor an answer
 * or carries no correlation data. Throws (a WireError) for a payload that does not decode.
 */
export function readTapped(topic: string, payload: Buffer, packet: IPublishPacket, limits: WireLimits): TappedMessage | undefined {
  // The server sees signed answers too; the message inside is what it learns from.
  const { msg, routing } = decodeRouted(UNCHECKED.open(payload, undefined, limits.maxBytes), limits);
  const correlation = packet.properties?.correlationData ?? routing?.correlationData;
  if (!(correlation instanceof Uint8Array)) return undefined;
  const key = Buffer.from(correlation).toString('hex');
  if (parseRequestTopic(topic)?.kind === 'query' && msg.type === 'query') {
    return {
      kind: 'query',
      key,
      reply_topic: packet.properties?.responseTopic ?? routing?.responseTopic ?? '',
      vector: Array.from(msg.vector, (v) => Math.round(v * 1e6) / 1e6),
      topM: msg.topM,
    };
  }
  if (topic.startsWith(TOPICS.replyPrefix) && msg.type === 'reply') {
    return msg.digests ? { kind: 'answer', key, digests: Array.from(msg.digests) } : { kind: 'answer', key, candidates: msg.candidates.map((c) => c.id) };
  }
  if (topic.startsWith(TOPICS.replyPrefix) && msg.type === 'error') return { kind: 'answer', key };
  return undefined;
}

export interface TapListener {
  /** Called with each message read and the time `now` gave as it arrived (read before any decoding). */
  onTapped: (message: TappedMessage, t: number) => void;
  /** An undecodable message or a broker error: the tap goes on. */
  onWarning: (what: string, err: Error) => void;
}

/**
 * Connects, subscribes to every query and every reply, and reports each message to `listener`, stamped by `now`
 * before anything else is done with it. Resolves with the client once subscribed; end it with `endClient`.
 */
export async function connectTap(options: BrokerOptions & { limits: WireLimits }, now: () => number, listener: TapListener): Promise<MqttClient> {
  const client = createBrokerClient(options, randomClientId());
  client.on('message', (topic, payload, packet) => {
    const t = now();
    let tapped: TappedMessage | undefined;
    try {
      tapped = readTapped(topic, payload, packet, options.limits);
    } catch (err) {
      listener.onWarning('wiretap: undecodable message', err as Error);
      return;
    }
    if (tapped) listener.onTapped(tapped, t);
  });
  client.on('error', (err) => listener.onWarning('wiretap broker error', err));
  try {
    await whenConnected(client, options);
    await client.subscribeAsync({ [requestFilter('query')]: { qos: 1 }, [`${TOPICS.replyPrefix}#`]: { qos: 1 } });
  } catch (err) {
    // A client left behind would go on reconnecting for the rest of the process.
    await endClient(client);
    throw err;
  }
  return client;
}
