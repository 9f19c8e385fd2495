import t from 'tap';
import { seededRandom } from '../../daemon/util/random.js';
import { WearerCrowd, type ArrivalRule } from '../../daemon/privacy/wearer-crowd.js';
import { arrivalAttack, crossValidatedAuc, openingAttack, queryFeatureGroups, rhythmAttack, sessions } from '../../daemon/eval/adversaries.js';
import { linkSessions } from '../../daemon/eval/attacks/rotation.js';
import { scoreLinks } from '../../daemon/eval/attacks/scoring.js';
import { gallery, hitRate, model, toyWearers, type ToyRun } from './toy-wearers.js';

const spotIds = gallery.spots.map((s) => s.id);

function measure(arrival: ArrivalRule, holdAcrossIdentity?: boolean, holdOpening?: boolean, startStationary?: boolean) {
  const rows = [700, 900, 1100].map((seed) => {
    const run = toyWearers({ paceSigma: 1, arrival, seed, holdAcrossIdentity, holdOpening, startStationary });
    const labels = run.real.map((r) => r !== undefined);
    const features = queryFeatureGroups(run.analyses, undefined).map((g) => g.track.slice(1));
    const delays = [...run.delays].sort((a, b) => a - b);
    return {
      rhythm: hitRate(run, rhythmAttack().guess(run.analyses)),
      freshest: hitRate(run, arrivalAttack('freshest').guess(run.analyses)),
      stalest: hitRate(run, arrivalAttack('stalest').guess(run.analyses)),
      opening: hitRate(run, openingAttack().guess(run.analyses)),
      auc: crossValidatedAuc(features, labels, [...sessions(run.analyses).values()], { random: seededRandom(seed) }),
      sessionAuc: crossValidatedAuc(
        queryFeatureGroups(run.analyses, undefined).map((g) => g.session),
        labels,
        [...sessions(run.analyses).values()],
        { random: seededRandom(seed) },
      ),
      held: run.held / run.framed,
      unshown: run.unaskedVisits / run.visits,
      medianDelay: delays[Math.floor(delays.length / 2)] / 1000,
      youngReal: youngRealShare(run),
      ...bridging(run, seed),
      bridgingWindow: bridging(run, seed, 15_000).bridging,
    };
  });
  const mean = (key: keyof (typeof rows)[number]) => rows.reduce((a, r) => a + r[key], 0) / rows.length;
  return {
    rhythm: mean('rhythm'),
    freshest: mean('freshest'),
    stalest: mean('stalest'),
    opening: mean('opening'),
    auc: mean('auc'),
    sessionAuc: mean('sessionAuc'),
    held: mean('held'),
    unshown: mean('unshown'),
    medianDelay: mean('medianDelay'),
    youngReal: mean('youngReal'),
    bridging: mean('bridging'),
    bridgingChance: mean('bridgingChance'),
    bridgingWindow: mean('bridgingWindow'),
  };
}

/**
 * Rotation bridged by shared spots (linkSessions on exact components): each new session linked to the ended one whose
 * last query shares most spots with its first. Every toy device changes identity at the same second, so only the
 * spots can link. The server reads the queries in time order, the devices of one instant in random order: the toy runs
 * one device after another, and in its own order a link's ties went to the session listed first, the same device's
 * (0.10-0.11 against chance 0.05 with nothing shared).
 */
function bridging(run: ToyRun, seed: number, windowMs = 0): { bridging: number; bridgingChance: number } {
  const random = seededRandom(seed);
  const tie = run.analyses.map(() => random.next());
  const order = run.analyses.map((_, i) => i).sort((a, b) => run.analyses[a].record.t - run.analyses[b].record.t || tie[a] - tie[b]);
  const records = order.map((i) => run.analyses[i].record);
  const truths = order.map((i) => ({ user: run.users[i], spot: null }));
  const links = linkSessions(records, { spots: order.map((i) => run.analyses[i].components.map((c) => c.id)), windowMs });
  const scored = scoreLinks(links, records, truths, { random });
  return { bridging: scored.bridging, bridgingChance: scored.chance };
}

/** The session's first half minute, where a server reads the session's age. */
const YOUNG_MS = 30_000;

/**
 * The real share of the queries sent in a session's first YOUNG_MS, over the real share of all queries: 1 when a
 * session's age says nothing of whether a query is real.
 */
function youngRealShare(run: ReturnType<typeof toyWearers>): number {
  const firstSeen = new Map<string, number>();
  let young = 0;
  let youngReal = 0;
  for (const [i, a] of run.analyses.entries()) {
    const session = a.record.reply_topic;
    if (!firstSeen.has(session)) firstSeen.set(session, a.record.t);
    if (a.record.t - firstSeen.get(session)! >= YOUNG_MS) continue;
    young++;
    if (run.real[i] !== undefined) youngReal++;
  }
  const overall = run.real.filter((r) => r !== undefined).length / run.real.length;
  return youngReal / young / overall;
}

/**
 * Decisions 52 and 53, in the toy world of wearer-pace.test.ts (wearers of three kinds, a new identity every 3 min,
 * k = 4, three seeds): with the wearer's spot on the wire from the first frame, a dummy sent while the wearer walks
 * shows the shadow's phantom visit cut short by the arrival, and the tracks' timing tells real queries from dummies.
 * Deferred, the spot waits for the next track whose visit ends. Measured here, immediate → deferred: track AUC 0.654
 * → 0.569; rhythm 0.252 → 0.247, stalest 0.228 → 0.217, but freshest 0.267 → 0.294; the real share of a session's
 * first 30 s, over the real share of all queries, 0.67 → 0.49. The cost: 0.19 of the frames of a spot held back,
 * 0.20 of the visits (short in this toy: a third of its wearers hurry past in 8 s) never asked about, and a median
 * 2.7 s from the first frame of a visit asked about to its first real query.
 * Waiting for the shadow's own move instead (decision 52, the rule before) measured track AUC 0.528, freshest 0.241,
 * but young sessions 0.37 (the session-age leak of decision 53), 0.54 held back, 0.62 of visits unasked, 7 s.
 * Since decision 54 a deferred crowd's identity change does not wait for the wearer to leave and the wearer's spot
 * does not carry over: where a query falls in its session (age, time left, length) told real from dummy at 0.689
 * immediate (the change waits) against 0.539 deferred; track AUC 0.543, freshest 0.308, stalest 0.151, young sessions
 * 0.749, held back 0.221, visits unasked 0.207. Shared spots link a new identity to its old one in 0.058 of changes
 * deferred, chance 0.053 (immediate 0.920 against chance 0.921: its waiting changes leave few sessions to choose from).
 * Decision 57: read within 15 s of the change, not only the two queries next to it, spots link 0.092 of changes
 * (chance 0.053): the wearer's spot comes back at the new identity's first track move. Held until the wearer leaves
 * (the default since), 0.055; the price is decision 55's: the session group 0.539 → 0.631, the real share of a
 * session's first 30 s 0.749 → 0.339 of the overall, held back 0.221 → 0.435, freshest 0.308 → 0.348 (sessions of
 * 15 min instead of 3: linked 0.080 → 0.056 against chance 0.049, the session group 0.512 → 0.537, held back 0.20 → 0.25).
 * Decision 61 (measured, not taken): held as well in a session's opening until the wearer's own track first moves, the
 * first spot to enter a session (opening_attack) names the wearer's 0.368 → 0.311 (the freshest 0.344), but the session
 * group 0.631 → 0.665, young sessions 0.339 → 0.204, held back 0.435 → 0.558, visits unasked 0.229 → 0.390; in the
 * evaluation's world (1,077 spots, two device seeds) `dummy_auc` rose by 0.06-0.08 with it.
 */
t.test('deferred arrival: the track timing tells real queries from dummies less, at a cost in queries', async (t) => {
  const immediate = measure('immediate');
  // The rules of decisions 52-54: the wearer's spot comes back at the new identity's first track move.
  const deferred = measure('deferred', false);
  const held = measure('deferred', true);
  const opening = measure('deferred', true, true);
  const show = (m: ReturnType<typeof measure>) => Object.entries(m).map(([key, v]) => `${key} ${v.toFixed(3)}`).join(', ');
  t.comment(`immediate: ${show(immediate)}`);
  t.comment(`deferred, back at the first track move: ${show(deferred)}`);
  t.comment(`deferred, held across the change (the default): ${show(held)}`);
  t.comment(`deferred, held across the change and in the opening: ${show(opening)}`);
  t.ok(immediate.auc > 0.6, 'the leak is there with the arrival on the wire at once');
  t.ok(deferred.auc < immediate.auc - 0.07, 'and much smaller when the spot waits for a track to finish its visit');
  t.ok(deferred.rhythm < immediate.rhythm + 0.02 && deferred.stalest < immediate.stalest + 0.02, 'the rhythm and stalest attacks gain nothing');
  // An identity change that waits for the wearer's spot to leave the wire makes sessions with real queries outlive the
  // others; deferred, the change does not wait (the wearer's spot comes back as it first came, decision 54).
  t.ok(immediate.sessionAuc > 0.6, `waiting for the wearer, where a query falls in its session tells (${immediate.sessionAuc.toFixed(3)})`);
  t.ok(deferred.sessionAuc < immediate.sessionAuc - 0.1, `not waiting, it tells much less (${deferred.sessionAuc.toFixed(3)})`);
  // Any track may bring the spot, so a new session's first minute is not left to dummies (0.37 with the shadow only).
  t.ok(deferred.youngReal > 0.45, `a young session still carries real queries (${deferred.youngReal.toFixed(2)} of the overall share)`);
  // A new identity shows nothing of the old one (decision 54): its first query shares spots with the old one's last no
  // more than with any other device's. The toy has no offline pause between identities; the evaluation, which has,
  // still links above chance by shared spots (docs/privacy.md, "Devices that drew the same dice").
  t.ok(deferred.bridging < deferred.bridgingChance + 0.03, `shared spots link identities at chance (${deferred.bridging.toFixed(3)} against ${deferred.bridgingChance.toFixed(3)})`);
  t.equal(immediate.held, 0, 'immediate arrival holds nothing back');
  t.ok(deferred.held > 0.1 && deferred.held < 0.3, `deferred arrival holds some frames back (${deferred.held.toFixed(2)}): its price`);
  // Decision 57: a server reading every spot shown within 15 s of a change finds the wearer's spot coming back at the
  // new identity's first track move; held until the wearer leaves, the spot links nothing. Its price is decision 55's:
  // a young session holds fewer real queries, and more frames are named without asking.
  t.ok(deferred.bridgingWindow > deferred.bridgingChance + 0.025, `coming back, spots within 15 s of the change link identities (${deferred.bridgingWindow.toFixed(3)})`);
  t.ok(held.bridgingWindow < held.bridgingChance + 0.01, `held, they link at chance (${held.bridgingWindow.toFixed(3)} against ${held.bridgingChance.toFixed(3)})`);
  t.ok(held.sessionAuc > deferred.sessionAuc && held.youngReal < deferred.youngReal, 'held, where a query falls in its session tells more: the price');
  t.ok(held.sessionAuc < immediate.sessionAuc, 'but less than an identity change that waits for the wearer');
  // Decision 61 (measured, not taken): the wearer's spot first comes with the first track to move, so the first spot
  // to enter a session is the wearer's (opening_attack). Held for the wearer's own track's first move, that attack
  // reads no more than the freshest track; but real queries wait longer in every young session, the price again.
  t.ok(opening.opening < held.opening - 0.03, `held in the opening, the first spot to enter names the wearer's spot less (${held.opening.toFixed(3)} → ${opening.opening.toFixed(3)})`);
  t.ok(opening.opening <= opening.freshest, 'no better than the freshest track');
  t.ok(opening.sessionAuc > held.sessionAuc && opening.youngReal < held.youngReal && opening.unshown > held.unshown, 'the price: a young session holds fewer real queries, and more visits go unasked');
});

/** A crowd on the toy map with a clock the test moves. */
function crowdAt(arrival: ArrivalRule, seed: number, holdAcrossIdentity?: boolean, holdOpening?: boolean, startStationary?: boolean) {
  const clock = { now: 0 };
  const crowd = new WearerCrowd({ map: model, tracks: 4, random: seededRandom(seed), clock: () => clock.now, phantomPaceSigma: 1, arrival, holdAcrossIdentity, holdOpening, startStationary });
  return { crowd, clock };
}

t.test('deferred: a spot not on the wire waits for the next track to finish its visit, which moves there', async (t) => {
  let waited = 0;
  let tried = 0;
  let shownWhileWaiting = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const { crowd, clock } = crowdAt('deferred', seed);
    const before = crowd.pickDecoySpots(4, new Set());
    const target = spotIds.find((id) => !before.includes(id))!;
    tried++;
    for (; clock.now < 3_600_000; clock.now += 1_000) {
      if (crowd.mayShow(target)) break;
      if (crowd.pickDecoySpots(4, new Set()).includes(target)) shownWhileWaiting++;
    }
    t.ok(clock.now < 3_600_000, 'a track comes within the hour');
    if (clock.now > 0) waited++;
    const after = crowd.pickDecoySpots(3, new Set([target]));
    t.equal(new Set([target, ...after]).size, 4, 'four distinct spots with the wearer\'s');
  }
  t.equal(shownWhileWaiting, 0, 'the spot is never shown while it waits');
  t.ok(waited >= tried - 2, `the wearer waited for a track in ${waited} of ${tried} starts (not at once)`);

  const { crowd: now } = crowdAt('immediate', 1);
  const spot = spotIds.find((id) => !now.pickDecoySpots(4, new Set()).includes(id))!;
  t.ok(now.mayShow(spot), 'immediate arrival always may show the spot');
});

t.test('deferred: a phantom track already standing on the wearer\'s spot becomes the shadow, invisibly', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const { crowd } = crowdAt('deferred', seed);
    const shown = crowd.pickDecoySpots(4, new Set());
    const target = shown[2];
    t.ok(crowd.mayShow(target), 'the spot is on the wire already: it may go at once');
    const real = crowd.pickDecoySpots(3, new Set([target]));
    t.same(new Set([target, ...real]), new Set(shown), 'the same four spots at the same moment');
  }
});

t.test('deferred: a visit that ends before the shadow came leaves the phantom visit running', async (t) => {
  const { crowd, clock } = crowdAt('deferred', 7);
  const before = crowd.pickDecoySpots(4, new Set());
  const target = spotIds.find((id) => !before.includes(id))!;
  t.notOk(crowd.mayShow(target), 'the wearer arrives somewhere not shown');
  clock.now += 1;
  crowd.wearerLeft();
  t.same(crowd.pickDecoySpots(4, new Set()), before, 'nothing moved for a visit the server never saw');
});

t.test('deferred: a new identity starts the wearer\'s track afresh too, so an identity change never waits (decision 54)', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const { crowd, clock } = crowdAt('deferred', seed, false);
    const target = spotIds.find((id) => !crowd.pickDecoySpots(4, new Set()).includes(id))!;
    for (; !crowd.mayShow(target); clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    crowd.shown([target, ...crowd.pickDecoySpots(3, new Set([target]))], target, clock.now);
    t.notOk(crowd.showsWearer(), 'the wearer\'s spot is on the wire, and the change need not wait for it');
    crowd.newIdentity();
    clock.now += 1;
    t.notOk(crowd.mayShow(target), 'the new identity does not show the wearer\'s spot at once');
    t.notOk(crowd.pickDecoySpots(4, new Set()).includes(target), 'its first dummy does not show it either');
    const changedAt = clock.now;
    for (; !crowd.mayShow(target) && clock.now < changedAt + 3_600_000; clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    t.ok(clock.now < changedAt + 3_600_000, 'it comes back when a track\'s visit ends');
  }
});

t.test('deferred: the spot the wearer stands at across an identity change stays off the new wire until the wearer leaves it (decision 57)', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const { crowd, clock } = crowdAt('deferred', seed);
    const target = spotIds.find((id) => !crowd.pickDecoySpots(4, new Set()).includes(id))!;
    for (; !crowd.mayShow(target); clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    crowd.shown([target, ...crowd.pickDecoySpots(3, new Set([target]))], target, clock.now);
    crowd.newIdentity();
    const changedAt = clock.now;
    let shown = 0;
    for (clock.now += 1_000; clock.now < changedAt + 3_600_000; clock.now += 1_000) {
      if (crowd.mayShow(target)) shown++;
      if (crowd.pickDecoySpots(4, new Set()).includes(target)) shown++;
    }
    t.equal(shown, 0, 'an hour at the spot after the change, and the new identity never shows it');
    // The wearer walks away, and comes back to the spot later: a new visit, which arrives as any visit does.
    crowd.wearerLeft();
    for (const end = clock.now + 60_000; clock.now < end; clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    const back = clock.now;
    for (; !crowd.mayShow(target) && clock.now < back + 3_600_000; clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    t.ok(clock.now < back + 3_600_000, 'a later visit to the spot goes on the wire when a track reaches it');
  }
});

/**
 * The spots a session shows until its first change, with a wearer standing from the start at a spot not shown: which
 * spot entered first, and whether it was the wearer's. Each second the device sends a real query when it may show the
 * spot, a dummy otherwise.
 */
function firstChange(seed: number, holdOpening: boolean, identityChange: boolean): boolean {
  const { crowd, clock } = crowdAt('deferred', seed, true, holdOpening);
  if (identityChange) {
    // A session of the wearer walking, then a new identity with the wearer still walking: an opening like the first.
    for (; clock.now < 120_000; clock.now += 1_000) crowd.pickDecoySpots(4, new Set());
    crowd.wearerLeft();
    crowd.newIdentity();
  }
  const opening = new Set(crowd.pickDecoySpots(4, new Set()));
  const target = spotIds.find((id) => !opening.has(id))!;
  for (const end = clock.now + 3_600_000; clock.now < end; clock.now += 1_000) {
    const shown = crowd.mayShow(target) ? [target, ...crowd.pickDecoySpots(3, new Set([target]))] : crowd.pickDecoySpots(4, new Set());
    const entered = shown.filter((id) => !opening.has(id));
    if (entered.length > 0) return entered.includes(target);
  }
  throw new Error('no spot changed within the hour');
}

t.test('deferred: the first spot to enter a session is the wearer\'s about one time in k, not always (decision 61)', async (t) => {
  const seeds = Array.from({ length: 200 }, (_, i) => i + 1);
  for (const identityChange of [false, true]) {
    const when = identityChange ? 'after an identity change' : 'at the device\'s start';
    const held = seeds.filter((seed) => firstChange(seed, true, identityChange)).length / seeds.length;
    const first = seeds.filter((seed) => firstChange(seed, false, identityChange)).length / seeds.length;
    t.comment(`${when}: the first change is the wearer's in ${first.toFixed(3)} brought by any track, ${held.toFixed(3)} held for the wearer's own`);
    t.ok(first > 0.9, `brought by the first track to move, the wearer's spot is the first to enter (${first.toFixed(3)})`);
    // k = 4 tracks whose in-progress visits end in random order: 1/4, with 200 sessions' sd 0.03.
    t.ok(held > 0.15 && held < 0.35, `held for the wearer's own track, it is one of four (${held.toFixed(3)})`);
  }
});

/**
 * A device that starts while its wearer stands at a spot, stays a drawn while, walks 20 s and stands at another: which
 * spot entered the session first, and whether the wearer's spot was in its first query. Each second a real query when
 * the device may show the spot, a dummy otherwise.
 */
function stationaryOpening(seed: number, startStationary: boolean, afterChange = false): { firstQueryShows: boolean; firstEnteredIsWearers: boolean } {
  const { crowd, clock } = crowdAt('deferred', seed, true, false, startStationary);
  const random = seededRandom(seed + 5_000);
  const first = spotIds[Math.floor(random.next() * spotIds.length)];
  if (afterChange) {
    // The old identity ran a minute with the wearer at another spot, which the wearer left before the change.
    const before = spotIds.find((id) => id !== first)!;
    for (const end = clock.now + 60_000; clock.now < end; clock.now += 1_000) {
      const real = crowd.mayShow(before);
      crowd.shown(real ? [before, ...crowd.pickDecoySpots(3, new Set([before]))] : crowd.pickDecoySpots(4, new Set()), real ? before : undefined, clock.now);
    }
    crowd.wearerLeft();
    clock.now += 10_000;
    crowd.newIdentity();
  }
  const leaveAt = clock.now + 30_000 * Math.exp(random.normal());
  const arriveAt = leaveAt + 20_000;
  let next: string | undefined;
  let opening: Set<string> | undefined;
  for (const end = clock.now + 3_600_000; clock.now < end; clock.now += 1_000) {
    let at: string | undefined = clock.now < leaveAt ? first : undefined;
    if (clock.now >= arriveAt) at = next ??= spotIds.find((id) => !opening!.has(id) && id !== first)!;
    if (at === undefined) crowd.wearerLeft();
    const shown = at !== undefined && crowd.mayShow(at) ? [at, ...crowd.pickDecoySpots(3, new Set([at]))] : crowd.pickDecoySpots(4, new Set());
    if (!opening) {
      opening = new Set(shown);
      continue;
    }
    const entered = shown.filter((id) => !opening!.has(id));
    if (entered.length > 0) return { firstQueryShows: opening.has(first), firstEnteredIsWearers: entered.includes(first) || (next !== undefined && entered.includes(next)) };
  }
  throw new Error('no spot changed within the hour');
}

t.test('startStationary: a wearer standing at a spot when the session starts is in its first query, not the first spot to enter it', async (t) => {
  const seeds = Array.from({ length: 200 }, (_, i) => i + 1);
  const share = (startStationary: boolean, key: 'firstQueryShows' | 'firstEnteredIsWearers') => seeds.filter((seed) => stationaryOpening(seed, startStationary)[key]).length / seeds.length;
  const before = { shows: share(false, 'firstQueryShows'), first: share(false, 'firstEnteredIsWearers') };
  const after = { shows: share(true, 'firstQueryShows'), first: share(true, 'firstEnteredIsWearers') };
  t.comment(`without: first query shows the wearer's spot ${before.shows.toFixed(3)}, first to enter is the wearer's ${before.first.toFixed(3)}; with: ${after.shows.toFixed(3)}, ${after.first.toFixed(3)}`);
  t.ok(before.shows < 0.2 && before.first > 0.8, 'without it the wearer\'s spot waits for the first track to move, and enters first');
  t.equal(after.shows, 1, 'with it every session\'s first query shows the spot the wearer stands at');
  // What enters first is a track's move: a phantom's, or the shadow's own when the wearer walks on, which comes before
  // the wearer's next spot can (in this scenario never the wearer's, where a session's first change may be any track's).
  t.ok(after.first < 0.35, `and the first spot to enter is the wearer's about as often as any track's (${after.first.toFixed(3)})`);
});

t.test('startStationary is for the device\'s start: after an identity change the wearer\'s spot enters as without it', async (t) => {
  // Placed at once after a change, the new identity's first query showed a spot next to the old identity's last one.
  const seeds = Array.from({ length: 200 }, (_, i) => i + 1);
  const shows = seeds.filter((seed) => stationaryOpening(seed, true, true).firstQueryShows).length / seeds.length;
  const showsWithout = seeds.filter((seed) => stationaryOpening(seed, false, true).firstQueryShows).length / seeds.length;
  t.comment(`a new identity's first query shows the spot the wearer stands at: ${shows.toFixed(3)} with it, ${showsWithout.toFixed(3)} without`);
  t.ok(shows < 0.2, `not placed at the wearer's spot (${shows.toFixed(3)})`);
  t.ok(Math.abs(shows - showsWithout) < 0.05, 'as often as without the setting');
});

t.test('startStationary: the spot held across an identity change still stays off the new wire', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const { crowd, clock } = crowdAt('deferred', seed, true, false, true);
    const target = spotIds[seed];
    t.ok(crowd.mayShow(target), 'at the device\'s start the spot the wearer stands at may go out at once');
    crowd.shown([target, ...crowd.pickDecoySpots(3, new Set([target]))], target, clock.now);
    crowd.newIdentity();
    let shown = 0;
    for (const end = clock.now + 600_000; clock.now < end; clock.now += 1_000) {
      if (crowd.mayShow(target)) shown++;
      if (crowd.pickDecoySpots(4, new Set()).includes(target)) shown++;
    }
    t.equal(shown, 0, 'ten minutes at the spot after the change, and the new identity never shows it');
  }
});
