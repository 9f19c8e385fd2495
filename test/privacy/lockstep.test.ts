import t from 'tap';
import { LockstepCrowd } from '../../daemon/privacy/lockstep.js';
import { seededRandom } from '../../daemon/util/random.js';
import { WalkModel } from '../../daemon/privacy/walk-model.js';
import { makeGallery } from './synthetic-gallery.js';

// 200 spots on a 1 km square: a town centre.
const gallery = makeGallery({ seed: 31 });
const model = new WalkModel(gallery.spots);
const map = model.map;
const MINUTE = 60_000;

function crowd(k: number, seed: number) {
  let now = 0;
  const c = new LockstepCrowd({ map: model, tracks: k, random: seededRandom(seed), clock: () => now });
  return { c, at: (ms: number) => (now = ms) };
}

t.test('a dummy shows every track, the user among them; a real query shows the others', async (t) => {
  const { c, at } = crowd(4, 1);
  const dummy = c.pickDecoySpots(4, new Set());
  t.equal(new Set(dummy).size, 4, 'four distinct spots');
  const { spots, user } = c.tracks();
  t.same([...dummy].sort(), [...spots].sort());
  at(5 * MINUTE);
  const real = c.pickDecoySpots(3, new Set(['spot-7']));
  t.equal(real.length, 3);
  t.notOk(real.includes('spot-7'), 'the real spot is never a decoy');
  const after = c.tracks();
  t.equal(after.spots[after.user], 'spot-7', 'the user track stands at the real spot');
  t.equal(after.user, user, 'the same track stays the user\'s');
  t.same([...c.pickDecoySpots(4, new Set())].sort(), [...after.spots].sort(), 'the next dummy shows the user where it was seen');
});

t.test('tracks move together, and only when the user is seen somewhere new', async (t) => {
  const { c, at } = crowd(4, 2);
  at(0);
  c.pickDecoySpots(3, new Set(['spot-10']));
  const placed = c.tracks().spots;
  // More real queries at the same spot and dummies in between: nobody moves, however much time passes.
  for (let minute = 1; minute <= 30; minute++) {
    at(minute * MINUTE);
    if (minute % 3 === 0) c.pickDecoySpots(3, new Set(['spot-10']));
    else c.pickDecoySpots(4, new Set());
  }
  t.same(c.tracks().spots, placed, 'standing still while the user stands still');
  // The user is seen at another spot: every track moves at that instant.
  const next = map.id(model.drawNextWithin(map.indexOf('spot-10'), -1, 5 * MINUTE, seededRandom(3)));
  at(35 * MINUTE);
  c.pickDecoySpots(3, new Set([next]));
  const moved = c.tracks().spots;
  moved.forEach((spot, i) => t.not(spot, placed[i], `track ${i} moved`));
  t.equal(new Set(moved).size, 4, 'still four distinct spots');
});

t.test('phantom moves are walks the elapsed time allows, and a returning user brings every track back', async (t) => {
  const { speedMax } = model.params;
  const spacing = model.typicalSpacing();
  let tooFar = 0;
  let moves = 0;
  for (let seed = 0; seed < 40; seed++) {
    const { c, at } = crowd(4, 100 + seed);
    const walk = seededRandom(500 + seed);
    let userSpot = map.indexOf('spot-0');
    at(0);
    c.pickDecoySpots(3, new Set([map.id(userSpot)]));
    for (let step = 1; step <= 10; step++) {
      const before = c.tracks();
      const elapsed = (3 + 5 * walk.next()) * MINUTE;
      at(step * 10 * MINUTE);
      userSpot = model.drawNextWithin(userSpot, -1, elapsed, walk);
      c.pickDecoySpots(3, new Set([map.id(userSpot)]));
      const after = c.tracks();
      after.spots.forEach((spot, i) => {
        if (i === after.user) return;
        moves++;
        // The phantom had 10 minutes since the last move; the speed check allows twice the map spacing for free.
        if (map.distance(map.indexOf(before.spots[i]), map.indexOf(spot)) > speedMax * 600 + 2 * spacing) tooFar++;
      });
    }
  }
  t.equal(tooFar, 0, `no phantom move is faster than walking (${moves} moves)`);

  // A misrecognised frame shows the user somewhere else for a moment, then back: every track goes back with it.
  const { c, at } = crowd(4, 9);
  at(0);
  c.pickDecoySpots(3, new Set(['spot-20']));
  const home = c.tracks().spots;
  at(20 * MINUTE);
  c.pickDecoySpots(3, new Set(['spot-150']));
  at(20 * MINUTE + 2000);
  c.pickDecoySpots(3, new Set(['spot-20']));
  t.same(c.tracks().spots, home, 'every track is back where it was');
});

t.test('the arrival of the user is not the only arrival', async (t) => {
  // The point of the lockstep: at a real query where the user's spot changes, every component's spot changes.
  const { c, at } = crowd(4, 12);
  at(0);
  const first = c.pickDecoySpots(3, new Set(['spot-30']));
  at(8 * MINUTE);
  const second = c.pickDecoySpots(3, new Set(['spot-31']));
  t.equal(second.filter((s) => first.includes(s)).length, 0, 'no decoy spot of the earlier query is shown again');
});

t.test('input is checked', async (t) => {
  t.throws(() => new LockstepCrowd({ map: model, tracks: 0, random: seededRandom(1) }), /a phantom crowd needs an integer >= 1 tracks/);
  t.throws(() => new LockstepCrowd({ map: gallery.spots.slice(0, 3), tracks: 4, random: seededRandom(1) }), /at least 4 spots/);
  const { c } = crowd(4, 13);
  t.throws(() => c.pickDecoySpots(4, new Set(['spot-1'])), /4 decoys need 4 phantom tracks; the crowd has 3/);
  t.throws(() => c.pickDecoySpots(-1, new Set()), RangeError);
  t.throws(() => new LockstepCrowd({ map: model, tracks: 2, random: seededRandom(1), clock: () => Number.NaN }), /phantom clock returned NaN/);
});
