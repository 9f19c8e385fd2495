/**
 * What the curious server sees (DESIGN §4 threat model: "the recognition server and whoever reads the broker"): an
 * MQTT client that reads every query on `enfpire/v1/query` and every reply under `enfpire/v1/reply/#`, pairs them by
 * correlation data, and keeps exactly what crossed the wire — arrival time, reply topic, vector, topM, candidate ids.
 * The adversaries of the evaluation work from these records only, so they can use nothing the server could not.
 * Ground truth never enters here.
 *
 * This one reads the broker on the caller's thread and stamps with the caller's clock: right for virtual time, where
 * the clock is simulated. A wall-clock run uses `ThreadedWiretap` (threaded-wiretap.ts), which stamps on a thread of
 * its own as a real server would on its own machine.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { endClient, type BrokerOptions } from '../transport/broker.js';
import type { WireLimits } from '../transport/messages.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { connectTap } from './tap-connection.js';
import { TapLedger, type ServerTap } from './tap-ledger.js';

export type { ServerRecord, ServerTap } from './tap-ledger.js';

export interface WiretapOptions extends BrokerOptions {
  limits: WireLimits;
  /** Simulated time, read when a query arrives. */
  clock: () => number;
  /** Every spot id of the recognizer's gallery, to read replies by spot digest as the server would. */
  galleryIds: readonly string[];
  logger?: Logger;
}

export class Wiretap extends TapLedger implements ServerTap {
  private mqtt: MqttClient | undefined;
  private readonly log: Logger;

  constructor(private readonly options: WiretapOptions) {
    super(options.galleryIds);
    this.log = options.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    this.mqtt = await connectTap(this.options, this.options.clock, {
      onTapped: (message, t) => this.add(message, t),
      onWarning: (what, err) => this.log.warn({ err: err.message }, what),
    });
  }

  async stop(): Promise<void> {
    const client = this.mqtt;
    this.mqtt = undefined;
    if (client) await endClient(client);
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
