import t from 'tap';
import { cryptoRandom, seededRandom, type Random } from '../../daemon/util/random.js';

const draw = (r: Random, n: number): number[] => Array.from({ length: n }, () => r.next());

t.test('seeded random is reproducible and seed-dependent', async (t) => {
  t.same(draw(seededRandom(42), 100), draw(seededRandom(42), 100));
  t.notSame(draw(seededRandom(42), 100), draw(seededRandom(43), 100));
  // Seeds beyond 32 bits must not collapse onto their low word.
  t.notSame(draw(seededRandom(7), 10), draw(seededRandom(7 + 2 ** 32), 10));
  const a = seededRandom(5);
  const b = seededRandom(5);
  t.same(Array.from({ length: 50 }, () => a.normal()), Array.from({ length: 50 }, () => b.normal()));
  t.same(a.shuffle([...Array(20).keys()]), b.shuffle([...Array(20).keys()]));
});

t.test('crypto random differs between instances', async (t) => {
  t.notSame(draw(cryptoRandom(), 8), draw(cryptoRandom(), 8));
});

for (const [name, make] of [
  ['seeded', () => seededRandom(2024)],
  ['crypto', () => cryptoRandom(64)], // a tiny block exercises the refill path
] as const) {
  t.test(`${name}: next, normal, int, shuffle, pick behave`, async (t) => {
    const r = make();
    const n = 100_000;
    const u = draw(r, n);
    t.ok(u.every((x) => x >= 0 && x < 1), 'next() in [0, 1)');
    const mean = u.reduce((s, x) => s + x, 0) / n;
    t.ok(Math.abs(mean - 0.5) < 0.01, `uniform mean ${mean.toFixed(4)}`);

    const z = Array.from({ length: n }, () => r.normal());
    const zMean = z.reduce((s, x) => s + x, 0) / n;
    const zVar = z.reduce((s, x) => s + (x - zMean) ** 2, 0) / n;
    t.ok(Math.abs(zMean) < 0.02 && Math.abs(zVar - 1) < 0.03, `normal mean ${zMean.toFixed(4)} var ${zVar.toFixed(4)}`);
    t.ok(z.every(Number.isFinite));

    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
    t.ok(counts.every((c) => Math.abs(c - 10_000) < 500), `int(7) counts ${counts.join(' ')}`);
    t.throws(() => r.int(0), RangeError);
    t.throws(() => r.int(2.5), RangeError);

    const items = [...Array(50).keys()];
    const shuffled = r.shuffle([...items]);
    t.same([...shuffled].sort((a, b) => a - b), items, 'shuffle is a permutation');
    t.notSame(shuffled, items, 'shuffle moves things');
    const picks = new Set(Array.from({ length: 200 }, () => r.pick(['a', 'b', 'c'])));
    t.same([...picks].sort(), ['a', 'b', 'c']);
    t.throws(() => r.pick([]), RangeError);
  });
}
