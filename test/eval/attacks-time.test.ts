/**
 * The attacks on wall-clock stamps (daemon/eval/attacks/timing.ts, rotation.ts): the slot grid a server estimates,
 * the timing classifier (late real messages are found, identical timing is not), and rotation bridging (identity
 * changes at independent times are linked by their pauses; changes all at once, with a new phase, are not).
 */
import t from 'tap';
import { crossValidatedAuc } from '../../daemon/eval/adversaries.js';
import { linkSessions } from '../../daemon/eval/attacks/rotation.js';
import { scoreLinks } from '../../daemon/eval/attacks/scoring.js';
import { gridOffset, sessionsOf, slotClock, timingFeatures } from '../../daemon/eval/attacks/timing.js';
import type { ServerRecord } from '../../daemon/eval/wiretap.js';
import { seededRandom, type Random } from '../../daemon/util/random.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';

const PERIOD = 1000;
/** Wall-clock stamps start far from 0, as Date.now does. */
const EPOCH = 1.7e12;

function message(t: number, topic: string): ServerRecord {
  return { t: Math.round(t), reply_topic: topic, vector: [], topM: 16, candidates: [] };
}

t.test('the slot grid of a session', async (t) => {
  const random = seededRandom(1);
  const times = Array.from({ length: 200 }, (_, i) => EPOCH + 370 + i * PERIOD + 3 * random.normal());
  const clock = slotClock(times);
  t.ok(Math.abs(clock.period - PERIOD) < 5, `period ${clock.period}`);
  t.ok(Math.abs(gridOffset(EPOCH + 370, clock)) < 0.01, 'the messages sit on the grid');
  t.ok(Math.abs(gridOffset(EPOCH + 870, clock)) > 0.49, 'half a period off it');
  t.ok(clock.spread < 0.01, `spread ${clock.spread}`);
});

/** Six sessions of 400 slots; a third real. `late` draws the extra delay of a real message, in ms. */
function timingAuc(random: Random, late: () => number): number {
  const records: ServerRecord[] = [];
  const labels: boolean[] = [];
  for (let s = 0; s < 6; s++) {
    const phase = random.next() * PERIOD;
    for (let i = 0; i < 400; i++) {
      const real = random.next() < 1 / 3;
      records.push(message(EPOCH + phase + i * PERIOD + 4 * random.next() + (real ? late() : 0), `s${s}`));
      labels.push(real);
    }
  }
  return crossValidatedAuc(timingFeatures(records), labels, [...sessionsOf(records).values()], { random });
}

t.test('timing: real messages that leave late are found, identical timing is not', async (t) => {
  const random = seededRandom(2);
  const late = timingAuc(random, () => 15 + 10 * Math.abs(random.normal()));
  const same = timingAuc(random, () => 0);
  t.comment(`timing AUC: ${late.toFixed(3)} with real messages 15+ ms late, ${same.toFixed(3)} with identical timing`);
  t.ok(late > 0.95);
  t.ok(Math.abs(same - 0.5) < 0.05);
});

/**
 * Six devices sending one message a second for an hour, changing identity 12 times after a pause of 5–15 s: each at
 * its own random times or all at the same instants; with a new random phase or on the old grid.
 */
function bridging(changes: 'apart' | 'together', phase: 'new' | 'kept', seed: number) {
  const random = seededRandom(seed);
  const hour = 3_600_000;
  const common = Array.from({ length: 12 }, (_, i) => (i + 1) * 290_000 + random.next() * 10_000);
  const records: ServerRecord[] = [];
  const truths: { user: number; spot: null }[] = [];
  for (let user = 0; user < 6; user++) {
    const times = changes === 'together' ? common : Array.from({ length: 12 }, () => random.next() * hour).sort((a, b) => a - b);
    let session = 0;
    let t = random.next() * PERIOD;
    for (const change of [...times, hour]) {
      for (; t < change; t += PERIOD) {
        records.push(message(EPOCH + t, `u${user}-${session}`));
        truths.push({ user, spot: null });
      }
      session++;
      const pause = 5000 + 10_000 * random.next();
      t = phase === 'kept' ? t + Math.ceil(pause / PERIOD) * PERIOD : change + pause + random.next() * PERIOD;
    }
  }
  return scoreLinks(linkSessions(records, { pauseMs: [5000, 15_000] }), records, truths, { random });
}

t.test('rotation bridging: identity changes at independent times are linked, simultaneous ones are not', async (t) => {
  const apart = bridging('apart', 'new', 3);
  const kept = bridging('apart', 'kept', 3);
  const together = bridging('together', 'new', 4);
  const line = (name: string, b: typeof apart) => `${name} ${b.bridging.toFixed(3)} (chance ${b.chance.toFixed(3)}, ${b.rotations} changes)`;
  t.comment(`bridging: ${line('independent times', apart)}; ${line('old phase kept', kept)}; ${line('simultaneous', together)}`);
  t.ok(apart.rotations > 60 && apart.bridging > 0.7, 'most changes at independent times are linked');
  t.ok(kept.bridging > 0.95 && kept.bridging > kept.chance + 0.05, 'a kept phase links even overlapping pauses');
  t.ok(together.rotations === 72 && Math.abs(together.bridging - together.chance) < 0.1, 'simultaneous changes with a new phase: chance');
});

t.test('rotation bridging by the spots a device shows across the change: tracks carried over link it, fresh ones do not', async (t) => {
  // Six devices change identity at the same instants with a new phase (timing alone links them at chance); each query
  // shows four of 25 spots. Carried: a device shows the same spots just before and just after its change.
  const linkBy = (tracks: 'carried' | 'fresh', seed: number) => {
    const random = seededRandom(seed);
    const draw = () => random.shuffle(Array.from({ length: 25 }, (_, i) => `spot-${i}`)).slice(0, 4);
    const records: ServerRecord[] = [];
    const truths: { user: number; spot: null }[] = [];
    const spots: string[][] = [];
    for (let user = 0; user < 6; user++) {
      let shown = draw();
      for (let session = 0; session < 12; session++) {
        if (tracks === 'fresh') shown = draw();
        const start = session * 300_000 + (session > 0 ? 10_000 + random.next() * PERIOD : random.next() * PERIOD);
        for (let n = 0; n < 280; n++) {
          records.push(message(EPOCH + start + n * PERIOD, `u${user}-${session}`));
          truths.push({ user, spot: null });
          spots.push(shown);
        }
      }
    }
    const linked = scoreLinks(linkSessions(records, { pauseMs: [5000, 15_000], spots }), records, truths, { random });
    return { ...linked, timing: scoreLinks(linkSessions(records, { pauseMs: [5000, 15_000] }), records, truths).bridging };
  };
  const carried = linkBy('carried', 5);
  const fresh = linkBy('fresh', 6);
  t.comment(`linked with the spots: carried ${carried.bridging.toFixed(3)}, fresh ${fresh.bridging.toFixed(3)} (timing alone ${carried.timing.toFixed(3)}, chance ${carried.chance.toFixed(3)})`);
  t.ok(carried.bridging > 0.9, 'the same spots across the change link it');
  t.ok(Math.abs(fresh.bridging - fresh.chance) < 0.15, 'spots drawn afresh leave it near chance');
});

/**
 * Six devices that change identity at the same instants with a new phase, 12 sessions each: every session shows four
 * spots from `draw`, and from its sixth query on one of them is the wearer's (`wearer` for the first session, then
 * `next` of the one before).
 */
function arrivingWearers(random: Random, draw: () => string[], wearer: (user: number) => string, next: (spot: string, user: number, session: number) => string) {
  const records: ServerRecord[] = [];
  const truths: { user: number; spot: null }[] = [];
  const spots: string[][] = [];
  for (let user = 0; user < 6; user++) {
    let spot = wearer(user);
    for (let session = 0; session < 12; session++) {
      const shown = draw();
      const start = session * 300_000 + (session > 0 ? 10_000 + random.next() * PERIOD : random.next() * PERIOD);
      for (let n = 0; n < 280; n++) {
        records.push(message(EPOCH + start + n * PERIOD, `u${user}-${session}`));
        truths.push({ user, spot: null });
        spots.push(n >= 5 ? [spot, ...shown.slice(1)] : shown);
      }
      spot = next(spot, user, session);
    }
  }
  return { records, truths, spots };
}

t.test('rotation bridging by a spot that arrives a few seconds into the new session: the windowed linker reads it', async (t) => {
  // Six devices change identity at the same instants with a new phase; each query shows four of 1,000 spots, drawn
  // afresh at every change. The wearer's spot ends each session and comes back as a track's move 5 s into the next:
  // the first query of the new session shares nothing with the old one's last.
  const random = seededRandom(8);
  const draw = () => random.shuffle(Array.from({ length: 1_000 }, (_, i) => `spot-${i}`)).slice(0, 4);
  // Three changes in four fall while the wearer stands at the spot.
  const { records, truths, spots } = arrivingWearers(
    random,
    draw,
    (user) => `wearer-${user}-0`,
    (spot, user, session) => (random.next() < 0.75 ? spot : `wearer-${user}-${session + 1}`),
  );
  const first = scoreLinks(linkSessions(records, { pauseMs: [5000, 15_000], spots }), records, truths, { random });
  const windowed = scoreLinks(linkSessions(records, { pauseMs: [5000, 15_000], spots, windowMs: 15_000 }), records, truths);
  t.comment(`first query alone ${first.bridging.toFixed(3)}, a 15 s window ${windowed.bridging.toFixed(3)} (chance ${first.chance.toFixed(3)})`);
  t.ok(Math.abs(first.bridging - first.chance) < 0.15, 'the first query alone links at chance');
  t.ok(windowed.bridging > first.bridging + 0.2, 'a window of the first seconds links the changes where the spot stayed');
});

t.test('rotation bridging by where the wearer walks on: a spot next to the one held across the change links it', async (t) => {
  // A 32 × 32 grid of spots 200 m apart (the walk model hops some 300 m). Six devices change identity at the same
  // instants with a new phase; each session shows four spots drawn anywhere, and its wearer's spot arrives 5 s in. The
  // wearer's spot of a new session is a neighbour of the old one's: held across the change, the old spot never
  // reappears, but the walk goes on from it.
  const side = 32;
  const map = Array.from({ length: side * side }, (_, i) => ({ id: `g${i}`, x: (i % side) * 200, y: Math.floor(i / side) * 200, popularity: 1 }));
  const walk = new WalkModel(map);
  const random = seededRandom(9);
  const draw = () => random.shuffle(map.map((m) => m.id)).slice(0, 4);
  const neighbour = (id: string) => {
    const i = Number(id.slice(1));
    const [x, y] = [i % side, Math.floor(i / side)];
    const nx = Math.min(side - 1, Math.max(0, x + (random.next() < 0.5 ? -1 : 1)));
    return `g${y * side + nx}`;
  };
  const { records, truths, spots } = arrivingWearers(random, draw, () => map[random.int(map.length)].id, neighbour);
  const options = { pauseMs: [5000, 15_000] as const, spots, windowMs: 30_000 };
  const bySpots = scoreLinks(linkSessions(records, options), records, truths, { random });
  const byPath = scoreLinks(linkSessions(records, { ...options, path: walk }), records, truths);
  t.comment(`spots within 30 s ${bySpots.bridging.toFixed(3)}, and the walk from them ${byPath.bridging.toFixed(3)} (chance ${bySpots.chance.toFixed(3)})`);
  t.ok(Math.abs(bySpots.bridging - bySpots.chance) < 0.15, 'no spot is shared across the change: the spots alone link at chance');
  t.ok(byPath.bridging > bySpots.chance + 0.2, 'the walk from the old spots to the new links it');
});

t.test('no identity change: nothing to bridge', async (t) => {
  const records = [message(EPOCH, 'a'), message(EPOCH + PERIOD, 'a'), message(EPOCH + 500, 'b')];
  const score = scoreLinks(linkSessions(records), records, [{ user: 0, spot: null }, { user: 0, spot: null }, { user: 1, spot: null }]);
  t.same(score, { bridging: 0, chance: 0, rotations: 0 });
});
