import t from 'tap';
import { DecoySynthesizer, estimateSigma, perturb } from '../../daemon/privacy/decoys.js';
import { cryptoRandom, seededRandom } from '../../daemon/util/random.js';
import type { RegionSpot } from '../../daemon/transport/messages.js';
import { cosine, norm, normalize } from '../../daemon/util/vector.js';
import { makeGallery } from './synthetic-gallery.js';

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

t.test('estimateSigma recovers the sigma of the isotropic model', async (t) => {
  const random = seededRandom(11);
  for (const sigma of [0.3, 0.75, 1.2]) {
    const pairs = Array.from({ length: 300 }, () => {
      const reference = normalize(Float32Array.from({ length: 256 }, () => random.normal()));
      return { reference, photo: perturb(reference, sigma, random) };
    });
    const estimate = estimateSigma(pairs);
    t.ok(Math.abs(estimate - sigma) / sigma < 0.03, `sigma ${sigma} estimated as ${estimate.toFixed(4)}`);
  }
});

t.test('estimateSigma shrugs off a few mislabelled photos and rejects bad input', async (t) => {
  const random = seededRandom(12);
  const pairs = Array.from({ length: 200 }, (_, i) => {
    const reference = normalize(Float32Array.from({ length: 128 }, () => random.normal()));
    // Every 20th photo belongs to another spot entirely.
    const photo = i % 20 === 0 ? normalize(Float32Array.from({ length: 128 }, () => random.normal())) : perturb(reference, 0.6, random);
    return { reference, photo };
  });
  t.ok(Math.abs(estimateSigma(pairs) - 0.6) < 0.04, `estimate ${estimateSigma(pairs).toFixed(4)}`);
  t.throws(() => estimateSigma([]), RangeError);
  t.throws(() => estimateSigma([{ photo: new Float32Array(3), reference: new Float32Array(4) }]), /dimension/);
});

t.test('decoys look like photos of their spot, not like the prototype', async (t) => {
  const gallery = makeGallery({ seed: 3 });
  const random = seededRandom(4);
  // Fit the view variation from "offline" photo/reference pairs, as the model build would.
  const pairs = Array.from({ length: 400 }, (_, i) => {
    const spot = gallery.spots[i % gallery.spots.length];
    return { photo: gallery.photo(spot.id, random), reference: spot.feature };
  });
  const sigma = estimateSigma(pairs);
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma }, random });

  const photoCos: number[] = [];
  const decoyCos: number[] = [];
  let worstNormError = 0;
  for (let i = 0; i < 1000; i++) {
    const spot = gallery.spots[i % gallery.spots.length];
    photoCos.push(cosine(gallery.photo(spot.id, random), spot.feature));
    const decoy = synthesizer.decoyFor(spot.id);
    worstNormError = Math.max(worstNormError, Math.abs(norm(decoy) - 1));
    decoyCos.push(cosine(decoy, spot.feature));
  }
  t.ok(worstNormError < 1e-5, 'decoys are unit vectors');
  t.comment(`sigma fitted ${sigma.toFixed(4)}; cos(photo, ref) ${mean(photoCos).toFixed(4)} ± ${sd(photoCos).toFixed(4)}; cos(decoy, ref) ${mean(decoyCos).toFixed(4)} ± ${sd(decoyCos).toFixed(4)}`);
  t.ok(Math.abs(mean(photoCos) - mean(decoyCos)) < 0.01, 'decoys sit as far from the prototype as photos do');
  t.ok(Math.max(...decoyCos) < 0.95, 'no decoy is (close to) the exact prototype');
});

t.test('no decoy vector repeats across 10 000 draws', async (t) => {
  const gallery = makeGallery({ seed: 5, spots: 20 });
  for (const [name, random] of [['crypto', cryptoRandom()], ['seeded', seededRandom(6)]] as const) {
    const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random });
    const seen = new Set<string>();
    // All draws from 3 spots: the hardest case for uniqueness.
    for (let i = 0; i < 10_000; i++) {
      const v = synthesizer.decoyFor(gallery.spots[i % 3].id);
      seen.add(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
    }
    t.equal(seen.size, 10_000, `${name}: 10 000 distinct decoys`);
  }
});

t.test('decoy spot choice follows popularity', async (t) => {
  const popularity = [40, 20, 10, 8, 6, 5, 4, 3, 2, 1, 1, 0.5];
  const spots: RegionSpot[] = popularity.map((p, i) => ({
    id: `s${i}`,
    feature: normalize(Float32Array.from({ length: 8 }, (_, j) => (j === i % 8 ? 1 : 0.1))),
    x: 0,
    y: 0,
    popularity: p,
  }));
  const synthesizer = new DecoySynthesizer({ spots, variation: { sigma: 0.5 }, random: seededRandom(9) });
  const draws = 50_000;
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const [id] = synthesizer.pickDecoySpots(1, new Set());
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const total = popularity.reduce((s, p) => s + p, 0);
  let chi2 = 0;
  popularity.forEach((p, i) => {
    const expected = (draws * p) / total;
    chi2 += ((counts.get(`s${i}`) ?? 0) - expected) ** 2 / expected;
  });
  t.comment(`chi-square ${chi2.toFixed(2)} with 11 degrees of freedom`);
  t.ok(chi2 < 31.26, 'chi-square below the p = 0.001 critical value (11 dof)');

  // Excluding the spot that holds 40 % of the weight: the rest keep their relative popularity, and the
  // exact fallback of the rejection sampler is exercised when the excluded set holds almost everything.
  const heavy = new Set(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8']);
  const tail = new Map<string, number>();
  let repeats = 0;
  for (let i = 0; i < 20_000; i++) {
    const picked = synthesizer.pickDecoySpots(2, heavy);
    if (picked[0] === picked[1]) repeats++;
    for (const id of picked) tail.set(id, (tail.get(id) ?? 0) + 1);
  }
  t.equal(repeats, 0, 'the two picks are always distinct');
  t.same([...tail.keys()].sort(), ['s10', 's11', 's9'], 'only spots outside the excluded set');
  // Two of {1, 1, 0.5} without replacement: s11 is left out most often, s9 and s10 equally often.
  t.ok(Math.abs((tail.get('s9') ?? 0) - (tail.get('s10') ?? 0)) < 600, `s9 ${tail.get('s9')} s10 ${tail.get('s10')}`);
  t.ok((tail.get('s11') ?? 0) < (tail.get('s9') ?? 0), 's11 (least popular) picked least');
});

t.test('pickDecoySpots returns distinct spots and refuses impossible requests', async (t) => {
  const gallery = makeGallery({ seed: 8, spots: 30 });
  const synthesizer = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.5 }, random: seededRandom(1) });
  let bad = 0;
  for (let i = 0; i < 200; i++) {
    const picked = synthesizer.pickDecoySpots(15, new Set(['spot-0']));
    if (new Set(picked).size !== 15 || picked.includes('spot-0')) bad++;
  }
  t.equal(bad, 0, '15 distinct spots, never the excluded one');
  t.equal(synthesizer.pickDecoySpots(29, new Set(['spot-0'])).length, 29, 'every other spot');
  t.throws(() => synthesizer.pickDecoySpots(30, new Set(['spot-0'])), /region pack has 29/);
  t.throws(() => synthesizer.decoyFor('nowhere'), /not in the region pack/);
});

t.test('the synthesizer validates the region pack', async (t) => {
  const spot = (id: string, feature: number[], popularity = 1): RegionSpot => ({ id, feature: Float32Array.from(feature), x: 0, y: 0, popularity });
  const random = seededRandom(1);
  const make = (spots: RegionSpot[], sigma = 0.5) => new DecoySynthesizer({ spots, variation: { sigma }, random });
  t.throws(() => make([]), /no spots/);
  t.throws(() => make([spot('a', [1, 0])], 0), /sigma/);
  t.throws(() => make([spot('a', [1, 0]), spot('a', [0, 1])]), /twice/);
  t.throws(() => make([spot('a', [1, 0]), spot('b', [0, 1, 0])]), /dimension 3, expected 2/);
  t.throws(() => make([spot('a', [1, 0], 0)]), /popularity/);
  t.throws(() => make([spot('a', [0, 0])]), /zero or non-finite/);
  t.throws(() => make([spot('a', [NaN, 1])]), /zero or non-finite/);
  const ok = make([spot('a', [3, 4]), spot('b', [0, 1])]);
  t.equal(ok.nearestSpot(Float32Array.from([0.6, 0.8])).id, 'a');
});

t.test('with a view model, decoys follow the spot’s view directions, fresh every call', async (t) => {
  const gallery = makeGallery({ seed: 9 });
  const random = seededRandom(10);
  const d = gallery.spots[0].feature.length;
  const ref = normalize(gallery.spots[0].feature);
  // Two directions orthogonal to the reference (and each other), a mean shift along a third.
  const orth = (seed: number) => {
    const r = seededRandom(seed);
    const v = Float32Array.from({ length: d }, () => r.normal());
    const along = v.reduce((s, x, i) => s + x * ref[i], 0);
    return normalize(v.map((x, i) => x - along * ref[i]));
  };
  const u1 = orth(1);
  const u2raw = orth(2);
  const c = u2raw.reduce((s, x, i) => s + x * u1[i], 0);
  const u2 = normalize(u2raw.map((x, i) => x - c * u1[i]));
  const view = { mean: orth(3).map((x) => x * 0.1), directions: [u1, u2], scales: [0.3, 0.1], residual: 0.05 };
  const spots: RegionSpot[] = gallery.spots.map((s, i) => (i === 0 ? { ...s, view } : s));
  const synthesizer = new DecoySynthesizer({ spots, variation: { sigma: 0.5 }, random });
  t.ok(synthesizer.hasViewModel(spots[0].id) && !synthesizer.hasViewModel(spots[1].id));

  const p1: number[] = [];
  const p2: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const decoy = synthesizer.decoyFor(spots[0].id);
    t.ok(i > 0 || Math.abs(norm(decoy) - 1) < 1e-5, 'unit vector');
    // Undo the normalisation by the reference's share, which the model leaves at 1.
    const scale = 1 / decoy.reduce((s, x, j) => s + x * ref[j], 0);
    p1.push(scale * decoy.reduce((s, x, j) => s + x * u1[j], 0));
    p2.push(scale * decoy.reduce((s, x, j) => s + x * u2[j], 0));
    seen.add(Buffer.from(decoy.buffer).toString('base64'));
  }
  t.equal(seen.size, 3000, 'fresh every call');
  t.comment(`sd along u1 ${sd(p1).toFixed(4)} (0.3), along u2 ${sd(p2).toFixed(4)} (0.1)`);
  t.ok(Math.abs(sd(p1) - 0.3) < 0.03, 'spread along the first direction');
  t.ok(Math.abs(sd(p2) - 0.1) < 0.015, 'spread along the second direction');
  t.ok(Math.abs(mean(p1)) < 0.02 && Math.abs(mean(p2)) < 0.01, 'centred on the mean shift');

  // A spot without a view model keeps the isotropic model: nothing special along u1.
  const iso = Array.from({ length: 2000 }, () => synthesizer.decoyFor(spots[1].id).reduce((s, x, j) => s + x * u1[j], 0));
  t.ok(sd(iso) < 0.05, 'isotropic noise spreads 0.5 over all dimensions');

  t.throws(() => new DecoySynthesizer({ spots: [{ ...spots[0], view: { ...view, scales: [0.3] } }], variation: { sigma: 0.5 }, random }), /view model directions/);
  t.throws(() => new DecoySynthesizer({ spots: [{ ...spots[0], view: { ...view, residual: NaN } }], variation: { sigma: 0.5 }, random }), /scale or residual/);
  t.throws(() => new DecoySynthesizer({ spots: [{ ...spots[0], view: { ...view, scales: [0, 0], residual: 0 } }], variation: { sigma: 0.5 }, random }), /no variation/);
});

t.test('drifting decoys persist like camera frames and each one is still a draw from the view model', async (t) => {
  const gallery = makeGallery({ seed: 21 });
  let now = 0;
  const drifting = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(22), drift: { fastSeconds: 20, slowSeconds: 20, slowShare: 0, clock: () => now } });
  const independent = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(23) });
  const spot = gallery.spots[0];
  const pairs = (s: DecoySynthesizer, gapMs: number) => {
    const cos: number[] = [];
    let previous = s.decoyFor(spot.id);
    for (let i = 0; i < 200; i++) {
      now += gapMs;
      const next = s.decoyFor(spot.id);
      cos.push(cosine(previous, next));
      previous = next;
    }
    return mean(cos);
  };
  const oneSecond = pairs(drifting, 1_000);
  const independentCos = pairs(independent, 1_000);
  const longGap = pairs(drifting, 120_000);
  t.comment(`cos of consecutive decoys: drift 1 s apart ${oneSecond.toFixed(4)}, 120 s apart ${longGap.toFixed(4)}, independent ${independentCos.toFixed(4)}`);
  t.ok(oneSecond > independentCos + 0.2 * (1 - independentCos), 'decoys a second apart are much closer than independent draws');
  t.ok(Math.abs(longGap - independentCos) < 0.02, 'decoys far apart in time are as unrelated as independent draws');
  const toReference = (s: DecoySynthesizer) => mean(Array.from({ length: 400 }, () => ((now += 1_000), cosine(s.decoyFor(spot.id), spot.feature))));
  t.ok(Math.abs(toReference(drifting) - toReference(independent)) < 0.01, 'each decoy sits as far from its reference as an independent one');
});

t.test('only the committed proposal is the one the next decoy drifts from', async (t) => {
  const gallery = makeGallery({ seed: 24 });
  let now = 0;
  const s = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(25), drift: { fastSeconds: 60, slowSeconds: 60, slowShare: 0, clock: () => now } });
  const id = gallery.spots[3].id;
  const shown = s.decoyFor(id);
  now += 500;
  const a = s.proposeDecoy(id);
  const b = s.proposeDecoy(id);
  t.ok(cosine(a.vector, shown) > 0.95 && cosine(b.vector, shown) > 0.95, 'both proposals drift from the shown decoy');
  b.commit();
  now += 500;
  const next = s.decoyFor(id);
  t.ok(cosine(next, b.vector) > cosine(next, a.vector), 'the next decoy continues from the committed proposal');
  t.throws(() => new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(1), drift: { fastSeconds: -1, slowSeconds: 1, slowShare: 0, clock: () => 0 } }), /drift/);
});

t.test('two time scales: decoys of a visit stay alike for minutes while the jitter fades in seconds', async (t) => {
  const gallery = makeGallery({ seed: 26 });
  let now = 0;
  const s = new DecoySynthesizer({
    spots: gallery.spots,
    variation: { sigma: 0.75 },
    random: seededRandom(27),
    drift: { fastSeconds: 4.4, slowSeconds: 600, slowShare: 0.59, clock: () => now },
  });
  const id = gallery.spots[5].id;
  const reference = gallery.spots[5].feature;
  // Correlation of the deviations from the reference, as the frame statistics were measured.
  const deviation = (v: Float32Array) => normalize(Float32Array.from(v, (x, i) => x - reference[i] * cosine(v, reference)));
  const correlationAt = (gapMs: number) => {
    const cs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const a = s.decoyFor(id);
      now += gapMs;
      cs.push(cosine(deviation(a), deviation(s.decoyFor(id))));
      now += 3_600_000; // next pair independent of this one
    }
    return mean(cs);
  };
  const near = correlationAt(1_300);
  const mid = correlationAt(30_000);
  t.comment(`deviation correlation 1.3 s apart ${near.toFixed(3)}, 30 s apart ${mid.toFixed(3)}`);
  t.ok(Math.abs(near - (0.59 + 0.41 * Math.exp(-1.3 / 4.4))) < 0.06, 'frame to frame: both parts');
  t.ok(Math.abs(mid - 0.59 * Math.exp(-30 / 600)) < 0.06, 'within a visit: the held viewpoint only');
});

t.test('anchor: the decoys of the real spot continue from the real frame', async (t) => {
  const gallery = makeGallery({ seed: 28 });
  let now = 0;
  const s = new DecoySynthesizer({
    spots: gallery.spots,
    variation: { sigma: 0.75 },
    random: seededRandom(29),
    drift: { fastSeconds: 4.4, slowSeconds: 600, slowShare: 0.59, clock: () => now },
  });
  const spot = gallery.spots[8];
  const frame = gallery.photo(spot.id, seededRandom(30));
  const unanchored = s.decoyFor(spot.id);
  now += 100_000;
  s.anchor(spot.id, frame);
  now += 1_000;
  const after = s.decoyFor(spot.id);
  t.comment(`cos(decoy after anchor, frame) ${cosine(after, frame).toFixed(3)}; an earlier decoy to the frame ${cosine(unanchored, frame).toFixed(3)}`);
  t.ok(cosine(after, frame) > 0.9, 'a second after the real frame, the decoy of its spot is close to it');
  t.ok(cosine(after, frame) > cosine(unanchored, frame) + 0.05, 'closer than a decoy drawn without the anchor');
});

t.test('a new identity forgets every view: the next decoy of a spot is a fresh draw, not a continuation', async (t) => {
  const gallery = makeGallery({ seed: 26 });
  let now = 0;
  const s = new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(27), drift: { fastSeconds: 4.4, slowSeconds: 600, slowShare: 0.59, clock: () => now } });
  const spots = gallery.spots.map((x) => x.id);
  const across = (forget: boolean) => {
    const before = spots.map((id) => s.decoyFor(id));
    now += 30_000;
    if (forget) s.forgetViews();
    const after = spots.map((id) => s.decoyFor(id));
    now += 30_000;
    return before.reduce((sum, v, i) => sum + cosine(v, after[i]), 0) / spots.length;
  };
  const kept = across(false);
  const forgotten = across(true);
  const fresh = spots.reduce((sum, id) => sum + cosine(s.decoyFor(id), new DecoySynthesizer({ spots: gallery.spots, variation: { sigma: 0.75 }, random: seededRandom(28) }).decoyFor(id)), 0) / spots.length;
  t.comment(`cos of a spot's decoys 30 s apart across a rotation: views kept ${kept.toFixed(4)}, forgotten ${forgotten.toFixed(4)}, independent draws ${fresh.toFixed(4)}`);
  t.ok(forgotten < kept - 0.02, 'forgetting breaks the persistence a server would link identities by');
  t.ok(Math.abs(forgotten - fresh) < 0.01, 'what is left is what any two draws of the spot share');
});
