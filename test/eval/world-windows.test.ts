/**
 * The extra windows of the 10,000-spot benchmark gallery (docs/benchmark.md, "debian-windows-10k"): drawn after a
 * photo's debian-windows windows, which they respect (IoU ≤ 0.3 against each and against each other), smaller and
 * more of them; and windows carried between two decodes of one photo. The base rules are tested in world.test.ts.
 */
import t from 'tap';
import {
  DEFAULT_WINDOW_RULES,
  DetailMap,
  EXTRA_WINDOW_RULES,
  iou,
  pickWindows,
  scaleWindow,
  windowCoordinates,
  type PixelWindow,
} from '../../daemon/eval/world/index.js';
import { seededRandom } from '../../daemon/util/random.js';

const SMALL = { width: 2048, height: 1365 };
const LARGE = { width: 4096, height: 2730 };
/** Fewer candidates than the build draws, so the test is quick; the rules are otherwise the build's. */
const RULES = { ...EXTRA_WINDOW_RULES, tries: 30_000 };

t.test('taken windows bound the new ones and change nothing else', async (t) => {
  t.same(pickWindows(SMALL, 3, DEFAULT_WINDOW_RULES, undefined, []), pickWindows(SMALL, 3), 'no taken windows: the windows as before');
  const base = pickWindows(SMALL, 3);
  const taken = [{ left: 0, top: 0, ...SMALL }, ...base];
  const free = pickWindows(SMALL, 5, DEFAULT_WINDOW_RULES);
  const bounded = pickWindows(SMALL, 5, DEFAULT_WINDOW_RULES, undefined, taken);
  t.ok(bounded.length < free.length, `${bounded.length} windows beside ${base.length} taken ones, ${free.length} without`);
  for (const w of bounded) {
    if (taken.some((k) => iou(k, w) > DEFAULT_WINDOW_RULES.maxIou)) t.fail('a new window overlaps a taken one');
  }
  t.notOk(bounded.some((w) => base.some((b) => b.left === w.left && b.top === w.top && b.width === w.width)), 'taken windows are not returned');
});

t.test('extra windows of the 10k gallery: smaller, many, never a second name for a scene', async (t) => {
  const base = pickWindows(SMALL, 11);
  const taken = [{ left: 0, top: 0, ...LARGE }, ...base.map((w) => scaleWindow(w, SMALL, LARGE))];
  const extras = pickWindows(LARGE, 12, RULES, undefined, taken);
  t.ok(extras.length >= 150, `${extras.length} extra windows beside ${base.length}`);
  t.same(pickWindows(LARGE, 12, RULES, undefined, taken), extras, 'same seed, same windows');
  const area = LARGE.width * LARGE.height;
  let small = 0;
  const all: PixelWindow[] = [...taken];
  for (const [i, w] of extras.entries()) {
    const share = (w.width * w.height) / area;
    if (share < 0.04) small++;
    t.ok(
      w.width >= RULES.minWidthPx && share >= RULES.areaShare[0] * 0.98 && share <= RULES.areaShare[1] * 1.02,
      `window ${i}: ${w.width} px wide, ${(share * 100).toFixed(2)} % of the photo`,
    );
    t.ok(w.left >= 0 && w.top >= 0 && w.left + w.width <= LARGE.width && w.top + w.height <= LARGE.height, `window ${i} inside the photo`);
    const clash = all.find((k) => iou(k, w) > RULES.maxIou);
    if (clash) t.fail(`window ${i} overlaps another by IoU ${iou(clash, w).toFixed(2)}`);
    all.push(w);
  }
  t.ok(small > extras.length / 2, `${small} of them below the 4 % the base windows start at`);

  // Detail rule kept: a photo plain on its left half gets no extra window wholly inside it.
  const [tw, th] = [256, 171];
  const grey = new Uint8Array(tw * th);
  const random = seededRandom(2);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) grey[y * tw + x] = x < tw / 2 ? 90 : Math.round(random.next() * 255);
  const detail = new DetailMap(grey, tw, th, LARGE.width, LARGE.height);
  const textured = pickWindows(LARGE, 12, RULES, detail, taken);
  // The thumbnail column at the border sees the texture next to it: a window may end up to 2 of its pixels short.
  const margin = (2 * LARGE.width) / tw;
  t.ok(textured.length > 0 && textured.every((w) => w.left + w.width > LARGE.width / 2 - margin), `${textured.length} windows, none in the plain half`);
});

t.test('scaleWindow carries a window between decodes of one photo', async (t) => {
  const w = { left: 100, top: 50, width: 400, height: 300 };
  t.same(scaleWindow(w, SMALL, LARGE), { left: 200, top: 100, width: 800, height: 600 });
  t.same(scaleWindow(scaleWindow(w, SMALL, LARGE), LARGE, SMALL), w, 'and back');
  const other = { left: 300, top: 120, width: 400, height: 300 };
  t.ok(Math.abs(iou(w, other) - iou(scaleWindow(w, SMALL, LARGE), scaleWindow(other, SMALL, LARGE))) < 1e-12, 'IoU does not change');
  // Coordinates are shares of the photo: a window has the same place on the map at either decode.
  t.same(windowCoordinates(4, 30, scaleWindow(w, SMALL, LARGE), LARGE), windowCoordinates(4, 30, w, SMALL));
});
