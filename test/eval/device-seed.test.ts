import t from 'tap';
import { deviceSeed } from '../../daemon/eval/fleet.js';
import { streamSeed } from '../../daemon/eval/views.js';
import { seededRandom } from '../../daemon/util/random.js';

// Every device of a run draws its own privacy randomness, as crypto randomness does in the field: devices that shared a
// stream changed identity at the same moments and started the same decoy tracks (fleet.ts, deviceSeed).
t.test('every device of a run gets its own random stream, for the run seeds the evaluation uses', async (t) => {
  for (const deviceSeedOfRun of [1, 3, 13, 14]) {
    const seed = streamSeed('privacy', deviceSeedOfRun, 'devices', 4);
    t.ok(seed > 2 ** 40, 'a run seed is a 48-bit hash');
    const seeds = Array.from({ length: 64 }, (_, user) => deviceSeed(seed, user));
    t.equal(new Set(seeds).size, 64, `64 devices, 64 seeds (device seed ${deviceSeedOfRun})`);
    const firstDraws = seeds.map((s) => seededRandom(s).next());
    t.equal(new Set(firstDraws).size, 64, 'and 64 different first draws');
    // What the fleet did before: past 2^53 the sum rounds, and neighbouring devices share a seed.
    t.ok(new Set(Array.from({ length: 64 }, (_, user) => seed * 1_000 + user)).size < 64, 'seed × 1,000 + user collides');
  }
  t.equal(deviceSeed(5, 2), deviceSeed(5, 2), 'the same run and device give the same stream');
});
