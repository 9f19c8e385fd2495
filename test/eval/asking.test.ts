/**
 * What asking later costs (eval/asking.ts), on a hand-made world: the delay from a visit's first frame to its first
 * real query counts each device's frames from when that device's world started.
 */
import t from 'tap';
import { askingFigures } from '../../daemon/eval/asking.js';
import type { QueryTruth } from '../../daemon/eval/fleet.js';
import type { ServerRecord } from '../../daemon/eval/tap-ledger.js';
import type { WorldFrame, WorldStream } from '../../daemon/eval/world/stream.js';

function frame(device: number, t: number, visit: number, spot: string | null): WorldFrame {
  return { device, t, spot, visit, activity: 'dwell', view: {} } as unknown as WorldFrame;
}

function record(t: number): ServerRecord {
  return { t, reply_topic: 'r', vector: [], topM: 4, candidates: [] };
}

// Two devices, one visit each, both asked about 3 s after the visit's first frame on their own world's clock; device 1
// came up 10 s after device 0, so its query reaches the server 13 s after the run's start.
const stream = { seed: 1, durationMs: 60_000, devices: [], frames: [frame(0, 0, 1, 'a'), frame(1, 0, 1, 'b'), frame(0, 3_000, 1, 'a'), frame(1, 3_000, 1, 'b')] } as unknown as WorldStream;
const labelOf = (n: number) => `f${n}`;
const records = [record(3_000), record(13_000)];
const truths: QueryTruth[] = [
  { user: 0, spot: 'a', label: 'f2' },
  { user: 1, spot: 'b', label: 'f3' },
];

t.test('the first ask of a visit counts from the visit on its own device clock', async (t) => {
  const figures = askingFigures(stream, labelOf, records, truths, 2, [0, 10_000]);
  t.equal(figures.first_ask_s.median, 3);
  t.equal(figures.first_ask_s.p90, 3);
  t.equal(figures.visits_asked, 1);
  t.equal(figures.held_back, 0.5);
  // Without the start times, device 1's ask would seem to take 13 s.
  t.equal(askingFigures(stream, labelOf, records, truths, 2).first_ask_s.p90, 13);
});
