/**
 * The wire limits must let through the largest message the system sends on purpose: a region pack of maxSpots spots,
 * each with a full view model. A flat 8 MiB held about 3,900 spots of the default model, and a 10,555-spot region
 * could not be served (found by `enfpire eval` on debian-windows-10k, 2026-12-07).
 */
import t from 'tap';
import { MAX_VIEW_DIRECTIONS, type RegionSpot } from '../../daemon/domain/spot.js';
import { decode, encode } from '../../daemon/transport/codec.js';
import { regionPackSpotBytes, wireLimitsFor } from '../../daemon/transport/limits.js';
import type { RegionPackMessage } from '../../daemon/transport/messages.js';
import { seededRandom } from '../../daemon/util/random.js';
import { normalize } from '../../daemon/util/vector.js';

function unitVector(dimension: number, random: () => number, scale = 1): Float32Array {
  return normalize(Float32Array.from({ length: dimension }, () => random() - 0.5)).map((x) => x * scale);
}

/** A spot as large as enrolment makes one: a full view model, a long id, service information. */
function fullSpot(i: number, dimension: number, random: () => number): RegionSpot {
  return {
    id: `debian-windows-10k/palapeli-panther-chameleon-female-window-${i}`,
    feature: unitVector(dimension, random),
    x: i * 3.25,
    y: -i * 1.5,
    popularity: 1 + (i % 7),
    view: {
      mean: unitVector(dimension, random, 0.3),
      directions: Array.from({ length: MAX_VIEW_DIRECTIONS }, () => unitVector(dimension, random)),
      scales: Array.from({ length: MAX_VIEW_DIRECTIONS }, (_, j) => 0.2 / (j + 1)),
      residual: 0.4,
    },
    info: { name: `Window ${i} of the panther chameleon`, description: 'A window of a photograph, cut by the benchmark script.' },
  };
}

function pack(spots: RegionSpot[]): RegionPackMessage {
  return { type: 'region-pack', model: 'enfpire-mnv2-int8-v1', region: '*', galleryVersion: '2026-12-07T15:27:00Z#1', spots };
}

t.test('a region pack of maxSpots full spots fits the limits, for the default model and for a 432-d one', async (t) => {
  for (const dimension of [256, 432]) {
    const random = seededRandom(dimension);
    const sample = Array.from({ length: 50 }, (_, i) => fullSpot(i, dimension, () => random.next()));
    const perSpot = (encode(pack(sample)).length - encode(pack([])).length) / sample.length;
    const limits = wireLimitsFor(dimension);
    t.ok(perSpot <= regionPackSpotBytes(dimension), `${dimension}-d: ${perSpot.toFixed(0)} bytes a full spot, within the ${regionPackSpotBytes(dimension)} allowed for`);
    t.ok(1024 + perSpot * limits.maxSpots <= limits.maxBytes, `${dimension}-d: ${limits.maxSpots} spots take about ${((perSpot * limits.maxSpots) / 1e6).toFixed(1)} MB, the limit is ${(limits.maxBytes / 1e6).toFixed(1)} MB`);
  }
});

t.test('a region pack of 4,000 full spots of the default model goes through encode and decode', async (t) => {
  const dimension = 256;
  const random = seededRandom(4000);
  // One set of vectors shared by every spot keeps the test's memory small; the bytes on the wire are the same.
  const template = fullSpot(0, dimension, () => random.next());
  const spots = Array.from({ length: 4_000 }, (_, i) => ({ ...template, id: `${template.id}-${i}` }));
  const limits = wireLimitsFor(dimension);
  const bytes = encode(pack(spots));
  t.ok(bytes.length > 8 * 1024 * 1024, `the pack is ${bytes.length} bytes, more than the 8 MiB the limit was`);
  const back = decode(bytes, limits);
  t.equal(back.type, 'region-pack');
  if (back.type === 'region-pack') {
    t.equal(back.spots.length, 4_000, 'every spot comes back');
    t.equal(back.spots[3_999].view?.directions.length, MAX_VIEW_DIRECTIONS, 'with its view model');
  }
});
