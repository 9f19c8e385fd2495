/**
 * Identity rotation (DESIGN §4, "time is on the wire too"): the device changes its broker identity at random times,
 * stays offline for a random pause in between, and does nothing else at a change. First what an observer on the
 * broker sees of the real EdgeRuntime, then the rotation's own contract in virtual time.
 */
import t, { type Test } from 'tap';
import { IdentityRotation, type PausableQueries, type RotatableIdentity } from '../../daemon/edge/identity-rotation.js';
import { TOPICS, parseRequestTopic, requestFilter } from '../../daemon/transport/messages.js';
import { VirtualClock } from '../../daemon/util/clock.js';
import { silentLogger } from '../../daemon/util/log.js';
import { enrolSampleGallery, startEdge, startRecognizer, wiretap, type Tapped } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';

const PAUSE = { min: 0.5, max: 1.5 };

/** The queries grouped by the identity (Response Topic) that sent them, in the order the identities appeared. */
function byIdentity(queries: Tapped[]): Array<{ topic: string; first: number; last: number; count: number }> {
  const runs: Array<{ topic: string; first: number; last: number; count: number }> = [];
  for (const q of queries) {
    const run = runs[runs.length - 1];
    if (run && run.topic === q.responseTopic) {
      run.last = q.at;
      run.count++;
    } else runs.push({ topic: q.responseTopic ?? '', first: q.at, last: q.at, count: 1 });
  }
  return runs;
}

/** A real Mosquitto and recognizer on the sample gallery, and an observer on `topics`; all stopped at teardown. */
async function backendWithTap(t: Test, topics: string[]) {
  const dir = t.testdir();
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const recognizer = await startRecognizer(dir, broker.url, await enrolSampleGallery(dir));
  t.teardown(() => recognizer.stop());
  const tap = await wiretap(broker.url, topics);
  t.teardown(() => tap.end());
  return { dir, broker, tap };
}

t.test('seen from the broker: new identities at random times, an offline pause between them, no region request', async (t) => {
  const { dir, broker, tap } = await backendWithTap(t, [requestFilter('query'), requestFilter('region')]);

  const { edge } = await startEdge(dir, broker.url, {
    transport: { rotateIdentityMinutes: 0.02, rotatePauseSeconds: PAUSE, requestTimeoutMs: 1000 },
    scheduler: { mode: 'constant', ratePerSecond: 10 },
  });
  t.teardown(() => edge.stop());
  const queries = () => tap.seen.filter((m) => parseRequestTopic(m.topic)?.kind === 'query');
  const identities = () => new Set(queries().map((q) => q.responseTopic)).size;
  t.ok(await eventually(() => identities() >= 6, 30_000), `several identities sent queries (${identities()})`);
  await edge.stop();

  const runs = byIdentity(queries());
  t.ok(runs.every((r) => r.topic.startsWith(TOPICS.replyPrefix)), 'every query names its identity in the v5 Response Topic');
  t.ok(
    queries().every((q) => TOPICS.replyPrefix + parseRequestTopic(q.topic)?.clientId === q.responseTopic),
    'and is published on the query topic of that same client id (what the broker ACL enforces)',
  );
  t.equal(runs.length, new Set(runs.map((r) => r.topic)).size, 'an identity never comes back once the next one has sent');

  // The pause is measured at the observer: allow a little delivery jitter, far below the 500 ms minimum.
  const offline = runs.slice(1).map((r, i) => r.first - runs[i].last);
  t.ok(
    offline.every((ms) => ms >= PAUSE.min * 1000 - 30),
    `at least ${PAUSE.min} s with no query between one identity's last query and the next one's first (${offline.join(', ')} ms)`,
  );
  // Within an identity the slots keep their rate (10/s); the long silences are the rotations and nothing else.
  const all = queries();
  const within = all.slice(1).flatMap((q, i) => (q.responseTopic === all[i].responseTopic ? [q.at - all[i].at] : []));
  t.ok(Math.max(...within) < PAUSE.min * 1000, `no pause inside an identity (longest gap ${Math.max(...within)} ms)`);

  // How long each identity sent (all but the last, cut short by stop()): one exponential gap each, give or take a
  // slot. A fixed interval would make them equal within about two slots (200 ms); five exponential draws with a
  // 1.2 s mean all within 150 ms of each other happen about once in 5 000 runs.
  const lifetimes = runs.slice(0, -1).map((r) => r.last - r.first);
  t.ok(Math.max(...lifetimes) - Math.min(...lifetimes) > 150, `identities live for random times (${lifetimes.join(', ')} ms)`);

  const regions = tap.seen.filter((m) => parseRequestTopic(m.topic)?.kind === 'region');
  t.equal(regions.length, 1, 'one region request in all: the one at start');
  t.ok(regions[0].at <= runs[0].first, 'it came before any query');
  // The first identity may change before its first slot (lifetimes are exponential, mean 1.2 s, slots 100 ms apart):
  // then it sent no query, and the first identity seen sending is the second.
  const from = runs.findIndex((r) => r.topic === regions[0].responseTopic);
  t.ok(from <= 0, `it came from the first identity, not from one that changed later (identity ${from} of those that sent)`);
});

t.test('through an identity change\'s offline pause the device goes on naming frames, from its region pack', async (t) => {
  // A real query left waiting for the new identity's first slot held the pipeline for the whole pause: no answer for
  // the wearer, and no frame for the transform, so the spot held across the change was let go (decision 64).
  const { dir, broker, tap } = await backendWithTap(t, [requestFilter('query')]);

  const pause = { min: 2, max: 3 };
  const answeredAt: number[] = [];
  const { edge } = await startEdge(
    dir,
    broker.url,
    {
      // Every frame a real query ('immediate' arrival, no cache): one is nearly always waiting when a pause begins.
      transport: { rotateIdentityMinutes: 0.03, rotatePauseSeconds: pause, requestTimeoutMs: 1000 },
      scheduler: { mode: 'constant', ratePerSecond: 5 },
    },
    { beforeStart: (e) => e.on('result', () => answeredAt.push(Date.now())) },
  );
  t.teardown(() => edge.stop());
  const identities = () => new Set(tap.seen.map((q) => q.responseTopic)).size;
  t.ok(await eventually(() => identities() >= 5, 60_000), `several identities sent queries (${identities()})`);
  await edge.stop();

  const runs = byIdentity(tap.seen);
  // Inside each offline pause (from the old identity's last query to the new one's first, less a slot either side).
  const pauses = runs.slice(1).map((r, i) => ({ from: runs[i].last + 300, to: r.first - 300 }));
  const answered = pauses.map((p) => answeredAt.filter((at) => at > p.from && at < p.to).length);
  t.ok(pauses.length >= 4, `${pauses.length} pauses`);
  t.same(
    answered.filter((n) => n === 0),
    [],
    `frames answered inside every pause of ${pause.min}-${pause.max} s at 4 frames a second (${answered.join(', ')})`,
  );
});

/** Fakes that log what the rotation does, in virtual time. */
function rig(opts: { randoms: number[]; meanMinutes?: number; pauseSeconds?: { min: number; max: number }; failFirst?: boolean; showsWearer?: (now: number) => boolean }) {
  const clock = new VirtualClock(0);
  const events: Array<[string, number]> = [];
  let calls = 0;
  const identity: RotatableIdentity = {
    async rotateIdentity(pause) {
      events.push(['disconnect', clock.now()]);
      if (opts.failFirst && calls++ === 0) throw new Error('broker away');
      await pause?.();
      events.push(['connect', clock.now()]);
    },
  };
  const queries: PausableQueries = {
    pauseQueries: () => events.push(['pause', clock.now()]),
    resumeQueries: () => events.push(['resume', clock.now()]),
    showsWearer: opts.showsWearer && (() => opts.showsWearer!(clock.now())),
  };
  const randoms = [...opts.randoms];
  const rotation = new IdentityRotation({
    identity,
    queries,
    meanMinutes: opts.meanMinutes ?? 1,
    pauseSeconds: opts.pauseSeconds ?? { min: 5, max: 45 },
    random: () => randoms.shift() ?? 0.5,
    clock,
    logger: silentLogger(),
  });
  // Lets the rotation's promise chain run after each timer, so a timer it arms is there before time moves on.
  const run = (until: number) => clock.runUntil(until, () => new Promise((r) => setImmediate(r)));
  return { clock, events, rotation, run };
}

t.test('queries pause before the identity changes and resume after it, at exponential times', async (t) => {
  const { events, rotation, run } = rig({ randoms: [0.5, 0.25, 0.9999, 0] });
  const first = -Math.log(1 - 0.5) * 60_000;
  const back = first + 15_000; // 5 s + 0.25 × (45 − 5) s
  const second = back + 240_000; // 0.9999 would be 9.2 means: capped at 4
  rotation.start();
  await run(second + 10_000);
  await rotation.stop();
  t.same(
    events,
    [
      ['pause', first],
      ['disconnect', first],
      ['connect', back],
      ['resume', back],
      ['pause', second],
      ['disconnect', second],
      ['connect', second + 5_000],
      ['resume', second + 5_000],
    ],
    'pause → old identity leaves → offline pause → new identity → resume; the next change one exponential gap later',
  );
  t.equal(rotation.rotations, 2, 'two identity changes counted');
});

t.test('a change on the network is busy until its pause, and again until connected: virtual time waits for it', async (t) => {
  // Disconnect and connect take real time, as they do against a broker; the pause is virtual.
  const clock = new VirtualClock(0);
  const events: Array<[string, number, boolean]> = [];
  const realMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const identity: RotatableIdentity = {
    async rotateIdentity(pause) {
      events.push(['disconnecting', clock.now(), rotation.busy]);
      await realMs(30);
      const elapsed = pause?.();
      events.push(['offline', clock.now(), rotation.busy]);
      await elapsed;
      events.push(['connecting', clock.now(), rotation.busy]);
      await realMs(30);
    },
  };
  const randoms = [0.5, 0.25, 0.5];
  const rotation: IdentityRotation = new IdentityRotation({
    identity,
    queries: { pauseQueries: () => {}, resumeQueries: () => {} },
    meanMinutes: 1,
    pauseSeconds: { min: 5, max: 45 },
    random: () => randoms.shift() ?? 0.5,
    clock,
    logger: silentLogger(),
  });
  // The evaluation's settle (eval/fleet.ts): time moves on only once the change is off the network.
  const settle = async () => {
    do await realMs(1);
    while (rotation.busy);
  };
  rotation.start();
  const first = -Math.log(1 - 0.5) * 60_000;
  await clock.runUntil(first + 30_000, settle);
  await rotation.stop();
  t.same(
    events,
    [
      ['disconnecting', first, true],
      ['offline', first, false],
      ['connecting', first + 15_000, true],
    ],
    'busy on the network, idle in the pause, and the new identity connects exactly one pause after the old left',
  );
  t.equal(rotation.busy, false, 'not busy once the change is done');
  t.equal(rotation.rotations, 1);
});

t.test('a rotation that fails still resumes the queries, and the next one comes at a new time', async (t) => {
  const { events, rotation, run } = rig({ randoms: [0.5, 0.25, 0.5, 0.25], failFirst: true });
  rotation.start();
  const gap = -Math.log(1 - 0.5) * 60_000;
  await run(2 * gap + 20_000);
  await rotation.stop();
  t.same(
    events.map(([e]) => e),
    ['pause', 'disconnect', 'resume', 'pause', 'disconnect', 'connect', 'resume'],
    'never left paused after a failure',
  );
  t.equal(events[2][1], gap, 'resumed at once after the failed attempt');
  t.equal(rotation.rotations, 1, 'only the change that happened is counted');
});

t.test('stop() during a long offline pause returns promptly and nothing rotates afterwards', async (t) => {
  const { clock, events, rotation, run } = rig({ randoms: [0.5, 0.5], pauseSeconds: { min: 600, max: 600 } });
  rotation.start();
  const gap = -Math.log(1 - 0.5) * 60_000;
  await run(gap + 1_000);
  t.same(events.map(([e]) => e), ['pause', 'disconnect'], 'in the offline pause');

  // Virtual time stands still: a stop() that waited for the pause would never return.
  const stopped = await Promise.race([rotation.stop().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 1_000))]);
  t.ok(stopped, 'stop() returned without waiting out the 600 s pause');
  t.equal(clock.now(), gap + 1_000, 'no virtual time passed');
  t.equal(events[events.length - 1][0], 'resume', 'the queries were not left paused');
  // A pause timer left behind would keep the process alive on the wall clock for up to rotatePauseSeconds.max.
  t.equal(clock.nextDue(), undefined, 'stop() leaves no timer behind');

  const count = events.length;
  await run(100 * 60_000);
  t.equal(events.length, count, 'no rotation after stop()');
});

t.test('a change that falls due while the queries show the wearer’s spot waits until they do not, for at most a mean interval', async (t) => {
  const due = -Math.log(1 - 0.5) * 60_000;
  // The wearer stands at a spot until 20 s after the change fell due, then walks on.
  const walking = rig({ randoms: [0.5, 0, 0.9999], showsWearer: (now) => now < due + 20_000 });
  walking.rotation.start();
  await walking.run(due + 30_000);
  await walking.rotation.stop();
  t.same(walking.events[0], ['pause', due + 20_000], 'the change waited for the wearer’s spot to leave the wire (checked each second)');
  t.equal(walking.rotation.rotations, 1);

  // A wearer who never leaves (a kiosk's customer, a long stop): the change goes ahead one mean interval late.
  const standing = rig({ randoms: [0.5, 0, 0.9999], showsWearer: () => true });
  standing.rotation.start();
  await standing.run(due + 70_000);
  await standing.rotation.stop();
  t.same(standing.events[0], ['pause', due + 60_000], 'after one mean interval (1 min here) it changes anyway');

  // stop() while a change waits leaves no timer behind and changes nothing.
  const stopping = rig({ randoms: [0.5], showsWearer: () => true });
  stopping.rotation.start();
  await stopping.run(due + 5_000);
  await stopping.rotation.stop();
  t.equal(stopping.clock.nextDue(), undefined, 'no timer left');
  t.same(stopping.events, [], 'nothing paused or changed');
});
