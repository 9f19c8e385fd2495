/** The messages between `ThreadedWiretap` and its thread (`wiretap-worker.ts`). Plain data: they are cloned. */
import type { BrokerOptions } from '../transport/broker.js';
import type { WireLimits } from '../transport/messages.js';
import type { TappedMessage } from './tap-connection.js';

/** The thread's workerData: where the broker is and what the wire may carry (no logger: it cannot cross). */
export type TapThreadOptions = BrokerOptions & { limits: WireLimits };

export type TapThreadRequest = { type: 'stop' };

export type TapThreadReply =
  /** Connected and subscribed: from here on every message is stamped. */
  | { type: 'ready' }
  /** Could not connect; the thread has ended its client. */
  | { type: 'failed'; error: { name: string; message: string } }
  /** Messages read since the last batch, each with its arrival in wall-clock ms since the epoch. */
  | { type: 'tapped'; batch: { message: TappedMessage; t: number }[] }
  /** An undecodable message or a broker error, to be logged where there is a logger. */
  | { type: 'warning'; what: string; message: string }
  /** Every message read before the stop went out in an earlier batch; the client is closed. */
  | { type: 'stopped' };
