import t from 'tap';
import { HeldBackError, QueryScheduler, SupersededError } from '../../daemon/privacy/scheduler.js';
import type { TransformedQuery } from '../../daemon/privacy/types.js';
import { VirtualClock } from '../../daemon/util/clock.js';

const query = (tag: number): TransformedQuery => ({ vector: new Float32Array([tag]), topM: 4, decoySpots: [] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A constant-mode scheduler in virtual time whose queries each carry the departure time they were built for. */
function departureScheduler(ratePerSecond: number, phase: number) {
  const clock = new VirtualClock(0);
  const sent: Array<{ read: number; at: number; kind: string }> = [];
  const built = (): TransformedQuery => query(scheduler.departureTime());
  const scheduler: QueryScheduler<number> = new QueryScheduler<number>({
    mode: 'constant',
    ratePerSecond,
    random: () => phase,
    clock,
    send: async (q, kind) => {
      sent.push({ read: q.vector[0], at: clock.now(), kind });
      return 0;
    },
    makeDummy: built,
  });
  return { clock, sent, built, scheduler };
}

function recordingScheduler(mode: 'on-demand' | 'constant' | 'poisson', ratePerSecond: number) {
  const sent: Array<{ tag: number; at: number }> = [];
  const dummyReplies: number[] = [];
  const scheduler = new QueryScheduler<number>({
    mode,
    ratePerSecond,
    random: Math.random,
    send: async (q) => {
      sent.push({ tag: q.vector[0], at: Date.now() });
      return q.vector[0];
    },
    makeDummy: () => query(-1),
    onDummyReply: (r) => dummyReplies.push(r),
  });
  return { scheduler, sent, dummyReplies };
}

t.test('constant mode fills empty slots with dummies and sends a real query in the next slot', async (t) => {
  // Virtual time: the spacing is the scheduler's, not the test machine's load.
  const clock = new VirtualClock(0);
  const sent: Array<{ tag: number; at: number }> = [];
  const dummyReplies: number[] = [];
  const scheduler = new QueryScheduler<number>({
    mode: 'constant',
    ratePerSecond: 50,
    random: () => 0.5,
    clock,
    send: async (q) => {
      sent.push({ tag: q.vector[0], at: clock.now() });
      return q.vector[0];
    },
    makeDummy: () => query(-1),
    onDummyReply: (r) => dummyReplies.push(r),
  });
  scheduler.start();
  await clock.runUntil(120);
  const reply = scheduler.submit(query(7));
  await clock.runUntil(200);
  t.equal(await reply, 7, 'the real query got its own reply');
  await scheduler.stop();
  t.same(sent.filter((s) => s.tag === -1).map((s) => s.at), [10, 30, 50, 70, 90, 110, 150, 170, 190], 'dummies filled every empty slot');
  t.same(sent.filter((s) => s.tag === 7).map((s) => s.at), [130], 'the real query took the next slot, exactly once');
  t.equal(dummyReplies.length, scheduler.counters.dummy, 'every dummy reply was handed back for the same treatment');
});

t.test('a newer real query supersedes one still waiting for its slot', async (t) => {
  const { scheduler } = recordingScheduler('constant', 5);
  scheduler.start();
  const first = scheduler.submit(query(1));
  const second = scheduler.submit(query(2));
  await t.rejects(first, SupersededError);
  t.equal(await second, 2);
  t.equal(scheduler.counters.superseded, 1);
  await scheduler.stop();
});

t.test('on-demand mode sends at once and never sends dummies', async (t) => {
  const { scheduler, sent } = recordingScheduler('on-demand', 0);
  scheduler.start();
  t.equal(await scheduler.submit(query(3)), 3);
  await sleep(50);
  await scheduler.stop();
  t.same(sent.map((s) => s.tag), [3]);
});

t.test('poisson mode draws exponential gaps with the configured mean', async (t) => {
  const { scheduler, sent } = recordingScheduler('poisson', 100);
  scheduler.start();
  await sleep(600);
  await scheduler.stop();
  const gaps = sent.slice(1).map((s, i) => s.at - sent[i].at);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
  t.ok(gaps.length >= 15, `enough slots to judge (${gaps.length})`);
  t.ok(sd > mean * 0.4, `gaps vary like an exponential (mean ${mean.toFixed(1)} ms, sd ${sd.toFixed(1)} ms), unlike constant slots`);
});

t.test('stop rejects a waiting real query and a stopped scheduler refuses new ones', async (t) => {
  const { scheduler } = recordingScheduler('constant', 1);
  scheduler.start();
  const waiting = scheduler.submit(query(1));
  await scheduler.stop();
  await t.rejects(waiting, /stopped/);
  await t.rejects(scheduler.submit(query(2)), /not running/);
});

t.test('slots leave at absolute times however long the next dummy takes to build', async (t) => {
  // A dummy over a large region pack takes tens of ms to build; before, every slot left that much later. In virtual
  // time the build's 20 ms are spent as a busy CPU would spend them (no timer fires meanwhile).
  const clock = new VirtualClock(0);
  const sent: number[] = [];
  const scheduler = new QueryScheduler<number>({
    mode: 'constant',
    ratePerSecond: 20,
    random: () => 0.5,
    clock,
    send: async () => {
      sent.push(clock.now());
      return 0;
    },
    makeDummy: () => {
      clock.spend(20);
      return query(-1);
    },
  });
  scheduler.start();
  await clock.runUntil(700);
  await scheduler.stop();
  const first = sent[0];
  t.ok(sent.length >= 12, `enough slots (${sent.length})`);
  t.same(
    sent.map((at, i) => at - first - i * 50),
    sent.map(() => 0),
    `slot n leaves at first + n × 50 ms, not pushed back by the build (sent at ${sent.join(',')})`,
  );
  t.equal(scheduler.counters.lateBuilds, 0, 'every dummy was built ahead of its slot');
});

t.test('a failed request is counted, never an unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const scheduler = new QueryScheduler<number>({
    mode: 'constant',
    ratePerSecond: 100,
    random: Math.random,
    send: async () => {
      throw new Error('no reply from a recognizer within 5000 ms');
    },
    makeDummy: () => query(-1),
  });
  scheduler.start();
  const real = scheduler.submit(query(1));
  await t.rejects(real, /no reply/, 'the real query fails to its caller, who handles it');
  await sleep(80);
  await scheduler.stop();
  await sleep(10);
  t.ok(scheduler.counters.failed >= 3, `failures counted (${scheduler.counters.failed})`);
  t.same(unhandled, [], 'no unhandled rejection: the daemon process survives');
});

t.test('pause stops every slot and resume starts a new random phase (virtual time)', async (t) => {
  const clock = new VirtualClock(0);
  const sent: number[] = [];
  const phases = [0.1, 0.7];
  const scheduler = new QueryScheduler<number>({
    mode: 'constant',
    ratePerSecond: 1,
    random: () => phases.shift() ?? 0.5,
    clock,
    send: async () => {
      sent.push(clock.now());
      return 0;
    },
    makeDummy: () => query(-1),
  });
  scheduler.start();
  await clock.runUntil(3_050);
  t.same(sent, [100, 1100, 2100], 'slots at phase 100 ms, one a second');
  scheduler.pause();
  await clock.runUntil(10_000);
  t.equal(sent.length, 3, 'nothing leaves while paused');
  scheduler.resume();
  await clock.runUntil(12_000);
  t.same(sent.slice(3), [10_700, 11_700], 'the new schedule has a new phase (700 ms), unrelated to the old one');
  await scheduler.stop();
});

t.test('a query is read at the time it leaves: the slot it will take, whether built right after a slot or when a frame came', async (t) => {
  // The transform reads departureTime() while it builds; here each query carries the time it read.
  const { clock, sent, built, scheduler } = departureScheduler(10, 0.25);
  t.equal(scheduler.departureTime(), 0, 'no slot armed: now');
  scheduler.start();
  for (const frameAt of [140, 333, 370, 555]) {
    await clock.runUntil(frameAt);
    void scheduler.submit(built()).catch(() => undefined);
  }
  await clock.runUntil(800);
  await scheduler.stop();
  t.ok(sent.length >= 7, `${sent.length} slots`);
  t.same(
    sent.filter((s) => s.read !== s.at),
    [],
    'every query, real or dummy, read the time of the slot it left in',
  );
  t.same(sent.filter((s) => s.kind === 'real').map((s) => s.at), [225, 425, 625], 'real queries took the next slots (the one at 333 was superseded)');
  t.equal(scheduler.departureTime(), clock.now(), 'stopped: now again');
});

t.test('a real query that waited through a pause is built again for the new schedule, not sent as built for the old', async (t) => {
  // Each query carries the departure time it was built for; the wearer's decoys are read at that time.
  const { clock, sent, built, scheduler } = departureScheduler(1, 0.5);
  scheduler.start();
  await clock.runUntil(600);
  const real = scheduler.submit(built(), built);
  t.equal(sent.length, 1, 'one slot went before the real query was queued');
  scheduler.pause();
  await clock.runUntil(30_000);
  scheduler.resume();
  await clock.runUntil(31_000);
  await real;
  const first = sent[1];
  t.equal(first.kind, 'real', 'the real query takes the first slot after the pause');
  t.equal(first.read, first.at, `built for the slot it left in (${first.at} ms), not for the old schedule's (1500 ms)`);

  // A real query that cannot be built again fails to its caller instead of leaving stale.
  await clock.runUntil(31_600);
  const failing = scheduler.submit(built(), () => {
    throw new Error('region pack gone');
  });
  scheduler.pause();
  scheduler.resume();
  await t.rejects(failing, /region pack gone/);
  await scheduler.stop();
});

t.test('a real query the new identity may not show yet is held back, and its slot carries a dummy', async (t) => {
  const { clock, sent, built, scheduler } = departureScheduler(1, 0.5);
  scheduler.start();
  await clock.runUntil(600);
  const real = scheduler.submit(built(), () => undefined);
  scheduler.pause();
  await clock.runUntil(30_000);
  scheduler.resume();
  await t.rejects(real, HeldBackError, 'the caller hears it was held back (and names the frame itself)');
  t.equal(scheduler.queueDepth, 0, 'nothing waits for a slot');
  await clock.runUntil(32_000);
  t.same(sent.slice(1).map((s) => s.kind), ['dummy', 'dummy'], 'the new identity\'s first slots carry dummies');
  t.equal(scheduler.counters.real, 0, 'no real query left');
  await scheduler.stop();
});
