#!/usr/bin/env node
/**
 * Builds the spot benchmark from the photographs in Debian's wallpaper packages (docs/benchmark.md).
 *
 *   node scripts/build-benchmark.mjs [--cache DIR] [--force] [--seed N] [--viewpoint-spots N] [--skip-10k]
 *
 * Packages are fetched with `apt-get download` (no installation, any user) and unpacked with `dpkg-deb -x` into
 * the cache; only the photographs listed in KEEP and EXTRA below are used, normalised to JPEG at most 1024 px wide.
 * Writes six spot folders (DESIGN §9 layout, DIR/<spot>.jpg or DIR/<spot>/*.jpg, + spots.json) and prints them:
 *
 *   <cache>/debian-photos          every kept photograph, one spot per picture
 *   <cache>/debian-photos-unseen   the same minus the 12 mate-backgrounds nature photos the shipped model
 *                                  (models/enfpire-gist-int8-v1.md) was tuned on
 *   <cache>/debian-windows         ≥ 1,000 spots: every photograph the model was not tuned on, whole, and windows
 *                                  of it (daemon/eval/world/windows.ts: IoU ≤ 0.3 within a photo), with coordinates
 *   <cache>/debian-windows-offgallery  photographs that are no spot of debian-windows, whole and windowed: the
 *                                  scenes a wearer sees between spots (frames of no spot)
 *   <cache>/debian-viewpoint       --viewpoint-spots (default 300) spots of debian-windows, each a folder of its
 *                                  enrolment window (0-enrol.jpg) and 3 views from other camera positions rendered
 *                                  from the whole photo (daemon/eval/world/viewpoint.ts: shift, distance,
 *                                  perspective, light, occluder), plus views.json of every view's parameters
 *   <cache>/debian-windows-10k     ≥ 10,000 spots: every spot of debian-windows (same id, same file) plus smaller
 *                                  extra windows of the same photographs (EXTRA_WINDOW_RULES: area ≥ 0.5 %, ≥ 160 px
 *                                  of a ≤ 4096 px decode, IoU ≤ 0.3 against every window of the photo, JPEG q85),
 *                                  the confusers of a large gallery; about 35 s and 123 MB, --skip-10k leaves it out
 *
 * Windows (the extra ones too), the viewpoint sample and its views are drawn from --seed (default 1): the same seed
 * and packages give the same folders, byte for byte.

 * The default cache is ${XDG_CACHE_HOME:-~/.cache}/enfpire/benchmark, outside the repository.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const MAX_WIDTH = 1024;
/** Of several resolutions of one picture, the largest at most this wide is taken (else the smallest above, downscaled). */
const PREFERRED_SOURCE_WIDTH = 1920;

/**
 * What is kept, decided per file by looking at every picture. Dropped: everything rendered or abstract.
 * - mate-backgrounds: nature/ is 12 photographs (kept; the model was tuned on them, see TUNED);
 *   abstract/ and desktop/ are rendered art, logos and gradients (dropped).
 * - plasma-workspace-wallpapers: 11 of the 30 KDE wallpapers are photographs (kept); the rest are rendered
 *   low-poly/vector art (Altai, Autumn, Canopee, Cascade, Cluster, Elarun, Flow, FlyingKonqui, Honeywave, IceCold,
 *   Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna).
 * - lomiri-wallpapers-16.04: the Ubuntu 18.04 community photo contest; 13 of 15 are photographs (kept);
 *   analogpattern (a texture close-up) and umang (abstract gradient) dropped.
 * - lomiri-wallpapers-20.04: Kleiber (a nuthatch on a trunk) is a photograph; Fossa, Painting-Colors and
 *   Infinite-Sea (a composite over a rendered gradient) are not.
 * - lomiri-wallpapers, ukui-wallpapers, gnome-backgrounds, sway-backgrounds: rendered art only (none kept).
 */
const NATURE = '/usr/share/backgrounds/mate/nature';
const PLASMA = '/usr/share/wallpapers';
const LOMIRI = '/usr/share/backgrounds';
const MATE_LICENCE = 'GPL-2+';
const PLASMA_LICENCE = 'LGPL-3 (KDE metadata; debian/copyright: GPL-2+)';

/** @type {{ package: string, spot: string, files: string[], author: string, licence: string }[]} */
const KEEP = [
  ...[
    ['Aqua', 'Charles Barbin'],
    ['Blinds', 'Lennart Poettering'],
    ['Dune', 'Marco Cogoni'],
    ['FreshFlower', 'Jens Ansorg'],
    ['Garden', 'Charles Barbin'],
    ['GreenMeadow', 'Timothy Schellhase'],
    ['LadyBird', 'Charles Barbin'],
    ['RainDrops', '"blackcombwhistler07"'],
    ['Storm', 'Sergey Nazarov'],
    ['TwoWings', 'Charles Barbin'],
    ['Wood', 'Jean-François Fortin Tam'],
    ['YellowFlower', 'Charles Barbin'],
  ].map(([name, author]) => ({
    package: 'mate-backgrounds',
    spot: `mate-${slug(name)}`,
    files: [`${NATURE}/${name}.jpg`],
    author,
    licence: MATE_LICENCE,
  })),
  ...[
    ['BytheWater', 'Maciej Wiklo'],
    ['ColdRipple', 'Risto Saukonpää'],
    ['ColorfulCups', 'Dmitri Popov'],
    ['DarkestHour', 'Risto Saukonpää'],
    ['EveningGlow', 'Ian Hex'],
    ['FallenLeaf', 'Martin Klapetek'],
    ['Grey', 'Sigi Sagi'],
    ['Kite', 'Risto Saukonpää'],
    ['OneStandsOut', 'Risto Saukonpää'],
    ['Path', 'Risto Saukonpää'],
    ['summer_1am', 'Risto Saukonpää'],
  ].map(([name, author]) => ({
    package: 'plasma-workspace-wallpapers',
    spot: `plasma-${slug(name)}`,
    // Every resolution of the picture; pickResolution chooses one.
    files: [`${PLASMA}/${name}/contents/images`],
    author,
    licence: PLASMA_LICENCE,
  })),
  ...[
    ['Bridge_by_Sander_Klootwijk', 'Sander Klootwijk', 'CC-BY-SA-4.0'],
    ['Dragonfly_by_Bolly', '"Bolly"', 'CC-BY-SA-4.0'],
    ['Picture_0B_by_freespace', 'Trevor "Freespace"', 'CC-BY-4.0'],
    ['Picture_1A_by_freespace', 'Trevor "Freespace"', 'CC-BY-4.0'],
    ['Wine_by_Jakkub_Mede', 'Jakub Mede', 'CC-BY-4.0'],
    ['aitzgorri_by_Aitzol_Berasategi', 'Aitzol Berasategi', 'CC-BY-4.0'],
    ['free_by_Peter_Nerlich', 'Peter Nerlich', 'CC-BY-SA-4.0'],
    ['friends_by_Aitzol_Berasategi', 'Aitzol Berasategi', 'CC-BY-4.0'],
    ['greentock_by_Peter_Nerlich', 'Peter Nerlich', 'CC-BY-SA-4.0'],
    ['life_by_Aitzol_Berasategi', 'Aitzol Berasategi', 'CC-BY-4.0'],
    ['picosdeeuropa_by_Aitzol_Berasategi', 'Aitzol Berasategi', 'CC-BY-4.0'],
    ['seeding_by_Clements_Engelhardt', 'Clemens Engelhardt', 'CC0-1.0'],
    ['sunset_by_Aitzol_Berasategi', 'Aitzol Berasategi', 'CC-BY-4.0'],
  ].map(([name, author, licence]) => ({
    package: 'lomiri-wallpapers-16.04',
    spot: `lomiri-${slug(name.split('_by_')[0])}`,
    files: [`${LOMIRI}/${name}.jpg`],
    author,
    licence,
  })),
  {
    package: 'lomiri-wallpapers-20.04',
    spot: 'lomiri-kleiber',
    files: [`${LOMIRI}/Kleiber_by_Lukas_Baubkus.jpg`],
    author: 'Lukas Baubkus',
    licence: 'CC-BY-SA-3.0',
  },
];

/** The photographs models/enfpire-gist-int8-v1 was tuned on: never part of the "unseen" set. */
const TUNED = new Set(KEEP.filter((k) => k.package === 'mate-backgrounds').map((k) => k.spot));

/**
 * Photographs in other Debian packages, used only by the windows sets (debian-photos stays as it was measured).
 * Author and licence per file: palapeli-data from each puzzle's .desktop file (X-KDE-PluginInfo-Author/-License),
 * python3-skimage from the docstrings of skimage/data/_fetchers.py. Everything else in skimage/data is a test
 * pattern, a micrograph, an astronomical or greyscale image, or (motorcycle) a stereo set without a stated licence.
 */
const PALAPELI = '/usr/share/palapeli/collection';
const SKIMAGE = '/usr/lib/python3/dist-packages/skimage/data';
const EXTRA = [
  ...[
    ['castle-maintenon', 'Eric Pouhier', 'GFDL'],
    ['cincinnati-bridge', 'Derek Jensen', 'public domain'],
    ['citrus-fruits', 'US Department of Agriculture', 'public domain'],
    ['european-honey-bee', 'John Severns', 'public domain'],
    ['panther-chameleon-female', 'B. Navez and others', 'GFDL'],
  ].map(([name, author, licence]) => ({
    package: 'palapeli-data',
    spot: `palapeli-${name}`,
    files: [`${PALAPELI}/${name}.jpg`],
    author,
    licence,
  })),
  ...[
    ['astronaut.png', 'NASA', 'public domain'],
    ['chelsea.png', 'Stefan van der Walt', 'CC0-1.0'],
    ['coffee.png', 'Rachel Michetti', 'CC0-1.0'],
    ['rocket.jpg', 'SpaceX', 'public domain'],
  ].map(([file, author, licence]) => ({
    package: 'python3-skimage',
    spot: `skimage-${file.replace(/\.\w+$/, '')}`,
    files: [`${SKIMAGE}/${file}`],
    author,
    licence,
  })),
];

/** Packages fetched; those without kept photos are fetched too so the keep-list can be re-checked from the cache. */
const PACKAGES = [
  'mate-backgrounds',
  'plasma-workspace-wallpapers',
  'lomiri-wallpapers-16.04',
  'lomiri-wallpapers-20.04',
  'palapeli-data',
  'python3-skimage',
];

/**
 * Where the windows sets come from. Spots: every photograph the model was not tuned on and that is large enough to
 * cut windows from. Off-gallery: the 12 tuned mate-backgrounds photos and the small skimage photos; no picture
 * is in both, so a frame of the off-gallery pool never shows any spot.
 */
const isWindowSpotSource = (k) => !TUNED.has(k.spot) && k.package !== 'python3-skimage';
/** Decoded size photos are windowed at (longer side): larger sources are cut at this resolution. */
const WORK_SIZE = 2048;
/** DESIGN §7: a reply must be a small share of the gallery. */
const MIN_WINDOW_SPOTS = 1000;
/** Off-gallery photos get fewer windows each: the pool needs variety, not volume. */
const OFF_GALLERY_WINDOWS = 12;
/** Spots of debian-viewpoint by default (every whole photograph plus windows spread over the photos). */
const VIEWPOINT_SPOTS = 300;
/** Views per spot of debian-viewpoint, besides the enrolment photo. */
const VIEWPOINT_VIEWS = 3;
/** Occluder photos (no spot of debian-windows) are decoded this wide: a patch never needs more. */
const OCCLUDER_WIDTH = 512;
/** debian-windows-10k: at least this many spots (DESIGN §7: a k × 6 reply a tiny share of the gallery). */
const MIN_10K_SPOTS = 10_000;
/** Its extra windows are cut from a decode at most this large (longer side): small windows keep the detail the source has. */
const EXTRA_WORK_SIZE = 4096;
/** JPEG quality of its extra windows (debian-windows' own spots keep their q92 files): a third less disk. */
const EXTRA_QUALITY = 85;

function slug(name) {
  return name
    .replace(/([a-z])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .toLowerCase();
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new Error(`cannot run ${command}: ${r.error.message}`);
  return r.status === 0;
}

async function fetchPackage(pkg, debsDir) {
  const cached = (await readdir(debsDir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (cached) return join(debsDir, cached);
  if (!run('apt-get', ['download', pkg], debsDir)) {
    const root = process.getuid?.() === 0;
    if (!root || !run('apt-get', ['update'], debsDir) || !run('apt-get', ['download', pkg], debsDir)) {
      throw new Error(`apt downloads are unavailable here (apt-get download ${pkg} failed), so the benchmark cannot be built; check the network and apt sources${root ? '' : ', or run apt-get update as root'}.`);
    }
  }
  return fetchPackage(pkg, debsDir);
}

async function unpack(deb, into) {
  if (existsSync(into)) return;
  const tmp = `${into}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  if (!run('dpkg-deb', ['-x', deb, tmp])) throw new Error(`dpkg-deb -x ${deb} failed`);
  await rename(tmp, into);
}

/**
 * The file to use among several resolutions of one picture. Where both exist, portrait files are phone crops of the
 * landscape picture (another view of it), so only the landscape ones compete.
 */
async function pickResolution(paths) {
  let candidates = [];
  for (const path of paths) {
    const files = existsSync(path) && !/\.\w+$/.test(path) ? (await readdir(path)).map((f) => join(path, f)) : [path];
    for (const file of files) {
      if (!existsSync(file)) throw new Error(`${file} is not in its package any more; update KEEP in scripts/build-benchmark.mjs`);
      const { width, height } = await sharp(file).metadata();
      candidates.push({ file, width, landscape: width >= height });
    }
  }
  if (candidates.length === 0) throw new Error(`no picture among ${paths.join(', ')}`);
  if (candidates.some((c) => c.landscape)) candidates = candidates.filter((c) => c.landscape);
  const fitting = candidates.filter((c) => c.width <= PREFERRED_SOURCE_WIDTH).sort((a, b) => b.width - a.width);
  return (fitting[0] ?? candidates.sort((a, b) => a.width - b.width)[0]).file;
}

/**
 * Writes a spot folder: one JPEG per spot (`image()` gives its pixels, by default the whole `source` photo) and a
 * spots.json of author, licence, package and any `meta`.
 */
async function writeSpots(dir, spots) {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const meta = {};
  for (const s of spots) {
    await writeSpotImage(s, join(tmp, `${s.spot}.jpg`));
    meta[s.spot] = spotMeta(s);
  }
  await writeFile(join(tmp, 'spots.json'), `${JSON.stringify(meta, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** A spot's picture as every folder has it: JPEG q92, at most MAX_WIDTH wide. */
async function writeSpotImage(s, file) {
  const image = s.image ? await s.image() : sharp(s.source).rotate();
  await image
    .flatten({ background: '#ffffff' })
    .resize({ width: MAX_WIDTH, withoutEnlargement: true })
    .jpeg({ quality: 92, mozjpeg: false })
    .toFile(file);
}

function spotMeta(s) {
  return { name: s.spot, author: s.author, licence: s.licence, package: s.package, ...s.meta };
}

/** A photo decoded once to raw sRGB at most `workSize` on its longer side, plus a grey thumbnail for its DetailMap. */
async function decodePhoto(source, thumbnailWidth, workSize = WORK_SIZE) {
  const raw = await sharp(source)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize({ width: workSize, height: workSize, fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const thumb = await sharp(raw.data, { raw: raw.info })
    .resize({ width: thumbnailWidth })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { raw, thumb };
}

/**
 * debian-windows-10k: every spot of debian-windows (the same id, the same file: copied from `windowsDir`) plus
 * extra windows of the same photographs, each its own spot `<photo>-xNNN`, drawn by EXTRA_WINDOW_RULES from their own
 * seed stream: smaller and more of them, but IoU ≤ 0.3 against every window of the photo, debian-windows' included,
 * and the same detail threshold. They are cut from a decode at up to EXTRA_WORK_SIZE and written at JPEG
 * EXTRA_QUALITY, at most MAX_WIDTH wide; coordinates as windowCoordinates places debian-windows' (the photo's
 * 250 m square). Returns the spot count.
 */
async function write10kSpots(dir, gallery, windowsDir, { seed, world }) {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const byPhoto = new Map();
  for (const s of gallery) {
    if (!byPhoto.has(s.meta.photo)) byPhoto.set(s.meta.photo, []);
    byPhoto.get(s.meta.photo).push(s);
  }
  const meta = {};
  const share = (v, of) => Math.round((v / of) * 1e4) / 1e4;
  for (const [index, [photo, spots]] of [...byPhoto.entries()].entries()) {
    for (const s of spots) {
      await copyFile(join(windowsDir, `${s.spot}.jpg`), join(tmp, `${s.spot}.jpg`));
      meta[s.spot] = spotMeta(s);
    }
    const { raw: big, thumb } = await decodePhoto(spots[0].source, world.THUMBNAIL_WIDTH, EXTRA_WORK_SIZE);
    const size = { width: big.info.width, height: big.info.height };
    const small = { width: spots[0].raw.info.width, height: spots[0].raw.info.height };
    const detail = new world.DetailMap(thumb.data, thumb.info.width, thumb.info.height, size.width, size.height);
    const taken = spots.map((s) => world.scaleWindow(s.pixelWindow, small, size));
    const extras = world.pickWindows(size, extraSeed(seed, photo), world.EXTRA_WINDOW_RULES, detail, taken);
    for (const [i, w] of extras.entries()) {
      const spot = `${photo}-x${String(i + 1).padStart(3, '0')}`;
      await sharp(big.data, { raw: big.info })
        .extract(w)
        .resize({ width: MAX_WIDTH, withoutEnlargement: true })
        .jpeg({ quality: EXTRA_QUALITY, mozjpeg: false })
        .toFile(join(tmp, `${spot}.jpg`));
      meta[spot] = spotMeta({
        ...spots[0],
        spot,
        meta: {
          photo,
          detail: Math.round(detail.detail(w) * 100) / 100,
          window: [share(w.left, size.width), share(w.top, size.height), share(w.width, size.width), share(w.height, size.height)],
          ...world.windowCoordinates(index, byPhoto.size, w, size),
        },
      });
    }
    process.stderr.write(`benchmark: ${photo}: ${spots.length} + ${extras.length} windows (decoded ${size.width}×${size.height})\n`);
  }
  const count = Object.keys(meta).length;
  if (count < MIN_10K_SPOTS) throw new Error(`only ${count} spots for ${dir} (need ${MIN_10K_SPOTS}); the packages changed or --seed ${seed} is unlucky`);
  await writeFile(join(tmp, 'spots.json'), `${JSON.stringify(meta, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return count;
}

function extraSeed(seed, spot) {
  return createHash('sha256').update(`benchmark-windows-10k\0${seed}\0${spot}`).digest().readUInt32BE(0);
}

/** A 32-bit seed for one photo's windows: sha256 of the run seed and the photo's spot id. */
function photoSeed(seed, spot) {
  return createHash('sha256').update(`benchmark-windows\0${seed}\0${spot}`).digest().readUInt32BE(0);
}

/**
 * The spots of a windows set: each photo whole and its windows, in photo order. `coordinates` places them on the
 * map (windowCoordinates); the window is recorded in spots.json as [left, top, width, height], shares of the photo.
 */
async function windowSpots(photos, { seed, prefix, maxWindows, coordinates, world }) {
  const out = [];
  for (const [index, photo] of photos.entries()) {
    const { raw, thumb } = await decodePhoto(photo.source, world.THUMBNAIL_WIDTH);
    const size = { width: raw.info.width, height: raw.info.height };
    const detail = new world.DetailMap(thumb.data, thumb.info.width, thumb.info.height, size.width, size.height);
    const rules = { ...world.DEFAULT_WINDOW_RULES, maxWindows };
    const windows = [{ left: 0, top: 0, ...size }, ...world.pickWindows(size, photoSeed(seed, photo.spot), rules, detail)];
    windows.forEach((w, i) => {
      const share = (v, of) => Math.round((v / of) * 1e4) / 1e4;
      out.push({
        ...photo,
        spot: `${prefix}${photo.spot}${i === 0 ? '' : `-w${String(i).padStart(2, '0')}`}`,
        // The decoded photo and the window in its pixels, for the viewpoint views (not written anywhere).
        raw,
        pixelWindow: w,
        image: () => sharp(raw.data, { raw: raw.info }).extract(w),
        meta: {
          photo: photo.spot,
          detail: Math.round(detail.detail(w) * 100) / 100,
          window: [share(w.left, size.width), share(w.top, size.height), share(w.width, size.width), share(w.height, size.height)],
          ...(coordinates ? world.windowCoordinates(index, photos.length, w, size) : {}),
        },
      });
    });
  }
  return out;
}

/**
 * Which spots of debian-windows get viewpoint views: every whole photograph, then windows taken in turn from each
 * photo (each photo's windows in a seeded order), so the sample spreads evenly over the photos. Gallery order.
 */
function pickViewpointSpots(gallery, count, seed, random) {
  const byPhoto = new Map();
  for (const s of gallery) {
    if (!byPhoto.has(s.meta.photo)) byPhoto.set(s.meta.photo, []);
    if (s.spot !== s.meta.photo) byPhoto.get(s.meta.photo).push(s);
  }
  const chosen = new Set(byPhoto.keys());
  const queues = [...byPhoto.entries()].map(([photo, windows]) => random.seededRandom(viewpointPickSeed(seed, photo)).shuffle([...windows]));
  while (chosen.size < count && queues.some((q) => q.length > 0)) {
    for (const q of queues) if (q.length > 0 && chosen.size < count) chosen.add(q.shift().spot);
  }
  return gallery.filter((s) => chosen.has(s.spot));
}

function viewpointPickSeed(seed, photo) {
  return createHash('sha256').update(`benchmark-viewpoint-pick\0${seed}\0${photo}`).digest().readUInt32BE(0);
}

/**
 * debian-viewpoint: per spot a folder of its enrolment window (0-enrol.jpg, the pixels debian-windows has) and
 * VIEWPOINT_VIEWS views from other camera positions (1-view.jpg, ...), rendered from the whole decoded photo; the
 * evaluation enrols the first file and cuts its queries from the others. spots.json as debian-windows has it, and
 * views.json with every view's parameters.
 */
async function writeViewpointSpots(dir, spots, { seed, occluders, viewpoint }) {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const meta = {};
  const views = {};
  const round = (v, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;
  for (const s of spots) {
    const folder = join(tmp, s.spot);
    await mkdir(folder);
    await writeSpotImage(s, join(folder, '0-enrol.jpg'));
    meta[s.spot] = spotMeta(s);
    const photo = { data: s.raw.data, width: s.raw.info.width, height: s.raw.info.height };
    views[s.spot] = [];
    for (let v = 1; v <= VIEWPOINT_VIEWS; v++) {
      const plan = viewpoint.planSpotView(photo, s.pixelWindow, seed, s.spot, v, { occluderSources: occluders.length });
      await writeFile(join(folder, `${v}-view.jpg`), await viewpoint.renderView(photo, plan, occluders.map((o) => o.image)));
      const o = plan.occluder;
      views[s.spot].push({
        file: `${v}-view.jpg`,
        shift: plan.shift.map((x) => round(x)),
        scale: round(plan.scale),
        yaw_deg: round(plan.yawDeg, 1),
        pitch_deg: round(plan.pitchDeg, 1),
        fit: round(plan.fit),
        quad: plan.quad.map(([x, y]) => [round(x / photo.width, 4), round(y / photo.height, 4)]),
        light: { exposure: round(plan.light.exposure), gains: plan.light.gains.map((g) => round(g)), gamma: round(plan.light.gamma), gradient: round(plan.light.gradient) },
        occluder: o && { shape: o.shape, share: round(o.share), photo: occluders[o.source].spot, centre: [round(o.cx / plan.width), round(o.cy / plan.height)] },
      });
    }
  }
  await writeFile(join(tmp, 'spots.json'), `${JSON.stringify(meta, null, 2)}\n`);
  // One line per view: readable, and diffable between two builds.
  const lines = Object.entries(views).map(([spot, list]) => `  ${JSON.stringify(spot)}: [\n${list.map((v) => `    ${JSON.stringify(v)}`).join(',\n')}\n  ]`);
  await writeFile(join(tmp, 'views.json'), `{\n${lines.join(',\n')}\n}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/** Occluder pictures: the photographs that are no spot of debian-windows, decoded small. */
async function decodeOccluders(sources) {
  const out = [];
  for (const s of sources) {
    const { data, info } = await sharp(s.source)
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize({ width: OCCLUDER_WIDTH, withoutEnlargement: true })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.push({ spot: s.spot, image: { data, width: info.width, height: info.height } });
  }
  return out;
}

async function main() {
  const { values } = parseArgs({
    options: {
      cache: { type: 'string' },
      force: { type: 'boolean' },
      seed: { type: 'string' },
      'viewpoint-spots': { type: 'string' },
      'skip-10k': { type: 'boolean' },
    },
  });
  const cacheRoot = resolve(
    values.cache ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'enfpire', 'benchmark'),
  );
  const debsDir = join(cacheRoot, 'debs');
  const unpacked = join(cacheRoot, 'unpacked');
  if (values.force) await rm(unpacked, { recursive: true, force: true });
  await mkdir(debsDir, { recursive: true });
  await mkdir(unpacked, { recursive: true });

  for (const pkg of PACKAGES) await unpack(await fetchPackage(pkg, debsDir), join(unpacked, pkg));

  const spots = [];
  for (const k of [...KEEP, ...EXTRA]) {
    const source = await pickResolution(k.files.map((f) => join(unpacked, k.package, f)));
    spots.push({ ...k, source });
  }
  const photos = spots.slice(0, KEEP.length); // KEEP only: debian-photos stays the set docs/benchmark.md measured
  const all = join(cacheRoot, 'debian-photos');
  const unseen = join(cacheRoot, 'debian-photos-unseen');
  await writeSpots(all, photos);
  await writeSpots(unseen, photos.filter((s) => !TUNED.has(s.spot)));
  const unseenCount = photos.length - TUNED.size;
  process.stderr.write(`benchmark: ${photos.length} photographs (${unseenCount} never seen by the model)\n`);

  // The windows sets: the TypeScript geometry through the loader the test runner uses.
  await import('@tapjs/typescript/import');
  const world = await import('../daemon/eval/world/windows.js');
  const seed = Number(values.seed ?? 1);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be an integer >= 0, got ${values.seed}`);
  const windows = join(cacheRoot, 'debian-windows');
  const offGallery = join(cacheRoot, 'debian-windows-offgallery');
  const gallerySources = spots.filter(isWindowSpotSource);
  const gallery = await windowSpots(gallerySources, { seed, prefix: '', maxWindows: world.DEFAULT_WINDOW_RULES.maxWindows, coordinates: true, world });
  if (gallery.length < MIN_WINDOW_SPOTS) {
    throw new Error(`only ${gallery.length} window spots (need ${MIN_WINDOW_SPOTS}); the packages changed or --seed ${seed} is unlucky`);
  }
  await writeSpots(windows, gallery);
  const pool = await windowSpots(spots.filter((s) => !isWindowSpotSource(s)), { seed, prefix: 'off-', maxWindows: OFF_GALLERY_WINDOWS, coordinates: false, world });
  await writeSpots(offGallery, pool);
  process.stderr.write(
    `benchmark: ${gallery.length} window spots from ${gallerySources.length} photographs; ` +
      `${pool.length} off-gallery pictures from ${spots.length - gallerySources.length} others (seed ${seed})\n`,
  );

  // The viewpoint set: views of a sample of debian-windows from other camera positions.
  const viewpointCount = Number(values['viewpoint-spots'] ?? VIEWPOINT_SPOTS);
  if (!Number.isSafeInteger(viewpointCount) || viewpointCount < 1) {
    throw new Error(`--viewpoint-spots must be an integer >= 1, got ${values['viewpoint-spots']}`);
  }
  const started = Date.now();
  const viewpoint = await import('../daemon/eval/world/viewpoint.js');
  const random = await import('../daemon/util/random.js');
  const viewpointDir = join(cacheRoot, 'debian-viewpoint');
  const sample = pickViewpointSpots(gallery, viewpointCount, seed, random);
  const occluders = await decodeOccluders(spots.filter((s) => !isWindowSpotSource(s)));
  await writeViewpointSpots(viewpointDir, sample, { seed, occluders, viewpoint });
  process.stderr.write(
    `benchmark: ${sample.length} viewpoint spots × ${VIEWPOINT_VIEWS} views (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );

  // The 10,000-spot gallery: debian-windows plus extra windows of the same photographs.
  const written = [all, unseen, windows, offGallery, viewpointDir];
  if (!values['skip-10k']) {
    const started10k = Date.now();
    const dir10k = join(cacheRoot, 'debian-windows-10k');
    const count = await write10kSpots(dir10k, gallery, windows, { seed, world });
    process.stderr.write(`benchmark: ${count} spots in debian-windows-10k (${((Date.now() - started10k) / 1000).toFixed(1)} s)\n`);
    written.push(dir10k);
  }
  process.stdout.write(`${written.join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`build-benchmark: ${err.message}\n`);
  process.exitCode = 1;
});
