/**
 * The viewpoint benchmark's geometry and pixels (daemon/eval/world/viewpoint.ts, docs/benchmark.md "Viewpoint").
 */
import t from 'tap';
import sharp from 'sharp';
import { seededRandom } from '../../daemon/util/random.js';
import {
  DEFAULT_VIEWPOINT_RANGES,
  applyHomography,
  corners,
  homographyFromPoints,
  occluderMask,
  paintOccluder,
  planSpotView,
  planView,
  renderView,
  renderViewPixels,
  tiltOffsets,
  viewSeed,
  type Point,
  type RawImage,
  type ViewpointRanges,
} from '../../daemon/eval/world/viewpoint.js';

/** A smooth, textured synthetic photo (so resampling differences stay small but misplacement shows). */
function photo(width: number, height: number, phase = 0): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 128 + 60 * Math.sin(x / 13 + c + phase) * Math.cos(y / 17 - c) + 50 * Math.sin((x + 2 * y) / 41 + phase);
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { data, width, height };
}

const NEUTRAL: Partial<ViewpointRanges> = {
  shift: [0, 0],
  scale: [1, 1],
  tiltDeg: [0, 0],
  exposure: [1, 1],
  channelGain: [1, 1],
  gamma: [1, 1],
  lightGradient: [0, 0],
  occluderShare: [0, 0],
};

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

t.test('the homography maps the four corners where asked', async (t) => {
  const random = seededRandom(5);
  for (let i = 0; i < 50; i++) {
    const from = corners(100 + random.int(900), 100 + random.int(700));
    const to = from.map(([x, y]): Point => [x * 1.3 + 40 + random.next() * 60, y * 0.8 + 10 + random.next() * 60]);
    const h = homographyFromPoints(from, to);
    for (let k = 0; k < 4; k++) {
      const [u, v] = applyHomography(h, ...from[k]);
      if (Math.abs(u - to[k][0]) > 1e-6 || Math.abs(v - to[k][1]) > 1e-6) t.fail(`corner ${k} maps to ${u},${v}, not ${to[k].join(",")}`);
    }
  }
  const identity = homographyFromPoints(corners(4, 3), corners(4, 3));
  t.same(applyHomography(identity, 1.5, 2.25), [1.5, 2.25], 'four fixed corners: the identity');
  t.throws(() => homographyFromPoints([[0, 0], [1, 1], [2, 2], [0, 1]], corners(1, 1)), /collinear/);
});

t.test('tilt: none gives the rectangle; a tilt widens the far side (keystone), a larger tilt more', async (t) => {
  t.same(tiltOffsets(400, 300, 0, 0, 60).map((p) => p.map((v) => Math.round(v * 1e9) / 1e9)), [[-200, -150], [200, -150], [200, 150], [-200, 150]]);
  const yawed = tiltOffsets(400, 300, 20, 0, 60);
  const leftHeight = yawed[3][1] - yawed[0][1];
  const rightHeight = yawed[2][1] - yawed[1][1];
  t.not(Math.round(leftHeight), Math.round(rightHeight), 'the two sides differ in height');
  t.ok(Math.max(leftHeight, rightHeight) > 300 && Math.min(leftHeight, rightHeight) < 300, 'one side farther, one nearer');
  const more = tiltOffsets(400, 300, 25, 0, 60);
  t.ok(more[2][1] - more[1][1] > rightHeight || more[3][1] - more[0][1] > leftHeight, '25° is stronger than 20°');
  const pitched = tiltOffsets(400, 300, 0, 20, 60);
  t.not(Math.round(pitched[1][0] - pitched[0][0]), Math.round(pitched[2][0] - pitched[3][0]), 'a pitch changes the widths of top and bottom');
});

t.test('a view with no shift, distance, tilt, light or occluder is the window', async (t) => {
  const image = photo(800, 600);
  const window = { left: 100, top: 80, width: 300, height: 225 };
  const plan = planView(image, window, seededRandom(1), { ranges: NEUTRAL, occluderSources: 3 });
  t.equal(plan.occluder, null);
  t.same([plan.width, plan.height, plan.fit], [300, 225, 1 - 1e-9]);
  const view = await renderViewPixels(image, plan);
  const cut = await sharp(image.data, { raw: { width: 800, height: 600, channels: 3 } }).extract(window).raw().toBuffer();
  t.ok(meanAbsDiff(view.data, cut) < 0.05, `same pixels (mean difference ${meanAbsDiff(view.data, cut).toFixed(3)})`);

  // A window wider than the view's 640 px: resampled by sharp first, then warped, close to a plain resize.
  const large = photo(1600, 1200);
  const wide = { left: 200, top: 150, width: 1200, height: 900 };
  const widePlan = planView(large, wide, seededRandom(1), { ranges: NEUTRAL });
  t.same([widePlan.width, widePlan.height], [640, 480]);
  const wideView = await renderViewPixels(large, widePlan);
  const resized = await sharp(large.data, { raw: { width: 1600, height: 1200, channels: 3 } }).extract(wide).resize(640, 480).raw().toBuffer();
  t.ok(meanAbsDiff(wideView.data, resized) < 2, `close to a plain resize (mean difference ${meanAbsDiff(wideView.data, resized).toFixed(2)})`);
});

t.test('the same seed gives the same bytes; another view another picture', async (t) => {
  const image = photo(1200, 800);
  const pool = [photo(512, 340, 1), photo(512, 384, 2)];
  const window = { left: 300, top: 200, width: 480, height: 360 };
  const render = (view: number) => renderView(image, planSpotView(image, window, 1, 'spot-w01', view, { occluderSources: 2 }), pool);
  const a = await render(1);
  t.ok((await render(1)).equals(a), 'identical bytes');
  t.notOk((await render(2)).equals(a), 'view 2 differs');
  t.same(planSpotView(image, window, 1, 'spot-w01', 1, { occluderSources: 2 }), planSpotView(image, window, 1, 'spot-w01', 1, { occluderSources: 2 }));
  t.not(viewSeed(1, 'spot', 1), viewSeed(2, 'spot', 1), 'the run seed matters');
  t.not(viewSeed(1, 'spot', 1), viewSeed(1, 'spot', 2), 'the view number matters');
  const meta = await sharp(a).metadata();
  t.equal(meta.format, 'jpeg');
});

t.test('the occluder covers the share asked, off-centre, and nothing else', async (t) => {
  const image = photo(1000, 750);
  const pool = [photo(512, 340, 3)];
  const random = seededRandom(9);
  let ellipses = 0;
  for (let i = 0; i < 200; i++) {
    const window = { left: random.int(400), top: random.int(300), width: 400 + random.int(200), height: 300 };
    const plan = planView(image, window, random, { occluderSources: 1 });
    const o = plan.occluder!;
    if (o.shape === 'ellipse') ellipses++;
    if (o.share < 0.05 || o.share > 0.2) t.fail(`share ${o.share} out of range`);
    const mask = occluderMask(o, plan.width, plan.height);
    const covered = mask.reduce((sum, v) => sum + v, 0) / mask.length;
    if (Math.abs(covered - o.share) > 0.05 * o.share) t.fail(`${o.shape} covers ${covered.toFixed(4)}, asked ${o.share.toFixed(4)}`);
    const off = Math.max(Math.abs(o.cx / plan.width - 0.5), Math.abs(o.cy / plan.height - 0.5));
    if (off < DEFAULT_VIEWPOINT_RANGES.occluderOffCentre) t.fail(`occluder centre ${off.toFixed(3)} from the view's centre`);
    if (o.cx - o.width / 2 < -1e-9 || o.cx + o.width / 2 > plan.width + 1e-9 || o.cy - o.height / 2 < -1e-9 || o.cy + o.height / 2 > plan.height + 1e-9) {
      t.fail('occluder outside the view');
    }
  }
  t.ok(ellipses > 60 && ellipses < 140, `both shapes (${ellipses} ellipses of 200)`);

  const plan = planView(image, { left: 200, top: 150, width: 400, height: 300 }, seededRandom(4), { occluderSources: 1 });
  const before = await renderViewPixels(image, { ...plan, occluder: null });
  const after = { ...before, data: Uint8Array.from(before.data) };
  paintOccluder(after, plan.occluder!, pool[0]);
  const mask = occluderMask(plan.occluder!, plan.width, plan.height);
  let changedOutside = 0;
  let changedInside = 0;
  for (let p = 0; p < mask.length; p++) {
    const changed = [0, 1, 2].some((c) => after.data[p * 3 + c] !== before.data[p * 3 + c]);
    if (mask[p] && changed) changedInside++;
    if (!mask[p] && changed) changedOutside++;
  }
  t.equal(changedOutside, 0, 'no pixel outside the shape changes');
  t.ok(changedInside > 0.9 * mask.reduce((s, v) => s + v, 0), 'the shape is painted');
});

t.test("a view stays inside the photo and keeps its ranges; whole-photo views shrink to fit", async (t) => {
  const size = { width: 2048, height: 1365 };
  const random = seededRandom(11);
  let shrunk = 0;
  let wholeKept = 0;
  for (let i = 0; i < 2000; i++) {
    const whole = i % 10 === 0;
    const width = whole ? size.width : 320 + random.int(600);
    const height = whole ? size.height : Math.round((width * 3) / 4);
    const window = whole ? { left: 0, top: 0, ...size } : { left: random.int(size.width - width + 1), top: random.int(size.height - height + 1), width, height };
    const plan = planView(size, window, random, { occluderSources: 2 });
    for (const [x, y] of plan.quad) {
      if (x < 0 || y < 0 || x > size.width || y > size.height) {
        t.fail(`view ${i} (${whole ? 'whole photo' : 'window'}) has a corner at ${x.toFixed(2)},${y.toFixed(2)}`);
        break;
      }
    }
    const tilt = Math.hypot(plan.yawDeg, plan.pitchDeg);
    if (tilt > 25 + 1e-9) t.fail(`tilt ${tilt}`);
    // The shift, relative to the view's own size (shrinking keeps it), is the drawn 10-20 %.
    const relative = Math.hypot(plan.shift[0], plan.shift[1]) / plan.fit;
    if (relative < 0.1 - 1e-6 || relative > 0.2 + 1e-6) t.fail(`shift ${relative}`);
    if (plan.fit < 1 - 1e-6) shrunk++;
    if (whole && plan.fit >= 1 - 1e-6) wholeKept++;
    if (plan.width > DEFAULT_VIEWPOINT_RANGES.maxWidth) t.fail(`view ${plan.width} px wide`);
  }
  t.equal(wholeKept, 0, 'a whole-photo view always shrinks (it cannot move otherwise)');
  t.ok(shrunk < 2000 * 0.6, `${shrunk} of 2000 views shrunk`);
});
