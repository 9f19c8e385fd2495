import t from 'tap';
import type { QueryAnalysis } from '../../daemon/eval/adversaries.js';
import { sessionProfile, type ProfileTruth } from '../../daemon/eval/session-profile.js';

/** One query on the wire: its session, second, the spots it showed, and its truth. */
interface Q {
  session: string;
  s: number;
  spots: string[];
  user: number;
  real?: string;
}

function build(queries: readonly Q[]): { analyses: QueryAnalysis[]; truths: ProfileTruth[] } {
  return {
    analyses: queries.map((q) => ({
      record: { t: q.s * 1000, reply_topic: q.session, vector: [], topM: 8, candidates: [] },
      scores: [],
      components: q.spots.map((id) => ({ id, weight: 1 / q.spots.length })),
      residual: new Float64Array(0),
      residualNorm: 0,
    })),
    truths: queries.map((q) => ({ user: q.user, spot: q.real ?? null })),
  };
}

/** `n` queries a second apart from `from`, all showing `spots`, real (of `real`) from second `realFrom` on. */
function run(session: string, user: number, from: number, n: number, spots: string[], real?: { spot: string; from: number }): Q[] {
  return Array.from({ length: n }, (_, j) => ({
    session,
    user,
    s: from + j,
    spots,
    real: real && from + j >= real.from ? real.spot : undefined,
  }));
}

t.test('the real share by session age leaves out a device first session, which starts with the device', async (t) => {
  const queries = [
    // Device 0: its first session is all real (left out of by_age), then a session real only after 20 s.
    ...run('a0', 0, 0, 30, ['p', 'q'], { spot: 'p', from: 0 }),
    ...run('a1', 0, 40, 40, ['r', 's'], { spot: 'r', from: 60 }),
  ];
  const { analyses, truths } = build(queries);
  const profile = sessionProfile(analyses, truths);
  t.equal(profile.real_share, Math.round(((30 + 20) / 70) * 1000) / 1000);
  const young = profile.by_age[0];
  t.same([young.from_s, young.to_s, young.queries, young.real_share], [0, 15, 15, 0], 'the second session first 15 s held nothing real');
  const next = profile.by_age[1];
  t.same([next.from_s, next.to_s, next.queries], [15, 60, 25]);
  t.equal(next.real_share, Math.round((20 / 25) * 1000) / 1000);
  const [firstYoung, firstNext] = profile.first_by_age;
  t.same([firstYoung.queries, firstYoung.real_share, firstNext.queries, firstNext.real_share], [15, 1, 15, 1], 'the device first session, all real, is read apart');
  t.equal(profile.first_by_age[2].queries, 0);
});

t.test('sessions by length are compared with what their devices hold elsewhere', async (t) => {
  const queries: Q[] = [];
  // Two devices, each: a first session, four middle sessions of lengths 10, 20, 30, 40 s, a last session. Device 1's
  // short middle sessions are all real, its long ones not; device 2 holds nothing real.
  for (const user of [1, 2]) {
    let at = 0;
    queries.push(...run(`u${user}-first`, user, at, 10, ['a', 'b']));
    at += 20;
    for (const [n, length] of [10, 20, 30, 40].entries()) {
      queries.push(...run(`u${user}-m${n}`, user, at, length, ['a', 'b'], user === 1 && length <= 20 ? { spot: 'a', from: at } : undefined));
      at += length + 10;
    }
    queries.push(...run(`u${user}-last`, user, at, 10, ['a', 'b']));
  }
  const { analyses, truths } = build(queries);
  const { by_length } = sessionProfile(analyses, truths);
  t.same(
    by_length.map((q) => [q.sessions, q.devices, q.max_s]),
    [
      [2, 2, 9],
      [2, 2, 19],
      [2, 2, 29],
      [2, 2, 39],
    ],
  );
  t.same(by_length.map((q) => q.real_share), [0.5, 0.5, 0, 0], 'the short sessions hold the real queries');
  // Device 1 is 30 of 120 queries real; the quartiles hold its sessions and device 2's alike, so each expects 0.125.
  t.same(by_length.map((q) => q.device_share), [0.125, 0.125, 0.125, 0.125], 'while their devices hold 0.125 over the run');
});

t.test('the freshest component is read by the spot changes a session has shown', async (t) => {
  const s = 'x';
  const queries: Q[] = [
    // From the start: p q r (no freshest), then w arrives (change 1) and is the wearer's, then v replaces q (change 2).
    { session: s, user: 0, s: 0, spots: ['p', 'q', 'r'] },
    { session: s, user: 0, s: 1, spots: ['p', 'q', 'r'], real: 'p' },
    { session: s, user: 0, s: 2, spots: ['p', 'q', 'w'], real: 'w' },
    { session: s, user: 0, s: 3, spots: ['p', 'q', 'w'], real: 'w' },
    { session: s, user: 0, s: 4, spots: ['p', 'v', 'w'], real: 'w' },
    // Two spots arrive at once: a tie, half a hit when one of them is real.
    { session: s, user: 0, s: 5, spots: ['m', 'n', 'w'], real: 'm' },
  ];
  const { analyses, truths } = build(queries);
  const { freshest_by_changes } = sessionProfile(analyses, truths);
  t.same(
    freshest_by_changes.map((b) => [b.changes, b.queries, b.freshest_is_real]),
    [
      ['1', 2, 1],
      ['2-3', 2, 0.25],
      ['4+', 0, 0],
    ],
    'the query before the first change counts nowhere; after it, the spot that came last',
  );
});

t.test('identity changes that carry the old session\'s last real spot into the new one, at once or within a minute', async (t) => {
  const queries: Q[] = [
    // Device 0: the spot comes back 5 s into the new session. Device 1: the new session opens with it. Device 2: a
    // new spot. Device 3: the spot comes back after two minutes (outside the window).
    ...run('d0-a', 0, 0, 10, ['p', 'x'], { spot: 'p', from: 5 }),
    ...run('d0-b', 0, 30, 20, ['y', 'z'], { spot: 'p', from: 35 }),
    ...run('d1-a', 1, 0, 10, ['q', 'x'], { spot: 'q', from: 0 }),
    ...run('d1-b', 1, 30, 10, ['q', 'z'], { spot: 'q', from: 30 }),
    ...run('d2-a', 2, 0, 10, ['r', 'x'], { spot: 'r', from: 0 }),
    ...run('d2-b', 2, 30, 10, ['s', 'z'], { spot: 's', from: 30 }),
    ...run('d3-a', 3, 0, 10, ['u', 'x'], { spot: 'u', from: 0 }),
    ...run('d3-b', 3, 30, 200, ['v', 'z'], { spot: 'u', from: 150 }),
  ];
  const { analyses, truths } = build(queries);
  t.same(sessionProfile(analyses, truths).rotation_carry, { changes: 4, first_query: 1, within_window: 2, window_s: 60 });
});

t.test('a wearer who walks on across a change: the new session\'s first real spot is the nearest to the old one\'s last', async (t) => {
  // Spots on a line: devices 0 and 1 walk 10 m across their change, device 2 goes far.
  const x: Record<string, number> = { a: 0, b: 10, c: 500, d: 510, e: 1000, f: 1010, g: 20 };
  const distance = (p: string, q: string) => Math.abs(x[p] - x[q]);
  const queries: Q[] = [
    ...run('d0-a', 0, 0, 10, ['a', 'z'], { spot: 'a', from: 0 }),
    ...run('d0-b', 0, 30, 10, ['b', 'z'], { spot: 'b', from: 32 }),
    ...run('d1-a', 1, 0, 10, ['c', 'z'], { spot: 'c', from: 0 }),
    ...run('d1-b', 1, 40, 10, ['d', 'z'], { spot: 'd', from: 40 }),
    // Device 2 arrives next to where device 0 was; device 0's own new spot is still nearer to it (10 m against 20 m).
    ...run('d2-a', 2, 0, 10, ['e', 'z'], { spot: 'e', from: 0 }),
    ...run('d2-b', 2, 50, 10, ['g', 'z'], { spot: 'g', from: 50 }),
    // Device 3's new session holds nothing real: not a change that counts, nor a rival.
    ...run('d3-a', 3, 0, 10, ['f', 'z'], { spot: 'f', from: 0 }),
    ...run('d3-b', 3, 30, 10, ['c', 'z']),
  ];
  const { analyses, truths } = build(queries);
  const walked = sessionProfile(analyses, truths, distance).rotation_carry.walked_on!;
  t.equal(walked.changes, 3, 'three changes with a real spot on both sides');
  // d0: 10 m against d1's 510 and d2's 20: nearest. d1: 10 m against 490 and 480: nearest. d2: 980 against 990 and 490: not.
  t.equal(walked.nearest, Math.round((2 / 3) * 1000) / 1000);
  t.equal(walked.chance, Math.round((1 / 3) * 1000) / 1000, 'each had two rivals');
  t.equal(walked.median_m, 10);
  t.notOk('walked_on' in sessionProfile(analyses, truths).rotation_carry, 'without the map, not counted');
});
