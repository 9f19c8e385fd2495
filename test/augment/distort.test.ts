import t from 'tap';
import sharp from 'sharp';
import { DEFAULT_DISTORTION_RANGES, decodeForDistortion, describeDistortion, distortPhoto, distortPixels, type DistortionOptions } from '../../daemon/augment/distort.js';

/** A structured test photo: gradients plus a checkerboard, so crops and warps change the pixels. */
async function photo(width: number, height: number, options: { bright?: boolean } = {}): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const check = (Math.floor(x / 40) + Math.floor(y / 40)) % 2;
      const base = options.bright ? 170 : 0;
      const span = options.bright ? 80 : 255;
      pixels[i] = base + Math.round((span * x) / width);
      pixels[i + 1] = base + Math.round((span * y) / height);
      pixels[i + 2] = base + (check ? span : 0);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

t.test('the same seed gives the same bytes, other seeds other photos', async (t) => {
  const input = await photo(1000, 750);
  const a = await distortPhoto(input, 42);
  const b = await distortPhoto(input, 42);
  t.ok(a.equals(b), 'deterministic');
  const others = await Promise.all([43, 44, 1042].map((seed) => distortPhoto(input, seed)));
  for (const other of others) t.notOk(other.equals(a), 'a different seed differs');
  t.notSame(describeDistortion(42), describeDistortion(43));
  t.same(describeDistortion(42), describeDistortion(42));
});

t.test('output is a JPEG of the expected size that is not the input', async (t) => {
  const input = await photo(1000, 750);
  for (const seed of [1, 2, 3, 4, 5]) {
    const params = describeDistortion(seed);
    const output = await distortPhoto(input, seed);
    const meta = await sharp(output).metadata();
    t.equal(meta.format, 'jpeg');
    t.equal(meta.channels, 3);
    t.equal(meta.width, params.outputWidth, 'width is the sampled one');
    t.ok(meta.width >= 480 && meta.width <= 800, `width ${meta.width} in 480..800`);
    // Height follows the crop's aspect, which stays within ±10 % of the photo's (0.75 here).
    const ratio = meta.height / meta.width;
    t.ok(ratio > 0.75 * 0.85 && ratio < 0.75 * 1.15, `aspect ${ratio.toFixed(3)} near the photo's`);

    const reference = await sharp(input).resize(meta.width, meta.height, { fit: 'fill' }).raw().toBuffer();
    const distorted = await sharp(output).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < reference.length; i++) diff += Math.abs(reference[i] - distorted[i]);
    t.ok(diff / reference.length > 5, `mean difference to the plain resize is ${(diff / reference.length).toFixed(1)}`);
  }
});

t.test('rotation leaves no black corners', async (t) => {
  const input = await photo(900, 600, { bright: true });
  for (const seed of [7, 8, 9, 10, 11, 12]) {
    const params = describeDistortion(seed);
    const { data, info } = await sharp(await distortPhoto(input, seed)).raw().toBuffer({ resolveWithObject: true });
    const patchMean = (x0: number, y0: number) => {
      let sum = 0;
      for (let y = y0; y < y0 + 4; y++) for (let x = x0; x < x0 + 4; x++) sum += data[(y * info.width + x) * 3 + 1];
      return sum / 16;
    };
    const [w, h] = [info.width - 4, info.height - 4];
    // The green channel of the bright photo is ≥ 170 before a worst-case 0.7 × 0.9 gain: far from black.
    for (const [x, y] of [[0, 0], [w, 0], [0, h], [w, h]]) {
      t.ok(patchMean(x, y) > 80, `corner ${x},${y} is not black (rotation ${params.rotationDeg.toFixed(1)}°)`);
    }
  }
});

t.test('sampled parameters stay inside their ranges', async (t) => {
  const inside = (value: number, [low, high]: [number, number]) => value >= low && value <= high;
  const r = DEFAULT_DISTORTION_RANGES;
  let failures = 0;
  const blurred = new Set<boolean>();
  for (let seed = 0; seed < 300; seed++) {
    const p = describeDistortion(seed);
    blurred.add(p.blurSigma > 0);
    const ok =
      inside(p.crop.area, r.cropArea) &&
      inside(p.crop.aspect, r.cropAspect) &&
      inside(p.crop.x, [0, 1]) &&
      inside(p.outputWidth, r.outputWidth) &&
      Number.isInteger(p.outputWidth) &&
      inside(p.rotationDeg, r.rotationDeg) &&
      inside(p.shearX, r.shear) &&
      inside(p.exposure, r.exposure) &&
      p.whiteBalance.every((gain) => inside(gain, r.whiteBalance)) &&
      (p.blurSigma === 0 || inside(p.blurSigma, [0.3, r.blurSigma[1]])) &&
      inside(p.noiseSigma, r.noiseSigma) &&
      inside(p.jpegQuality, r.jpegQuality) &&
      Number.isInteger(p.jpegQuality);
    if (!ok) failures++;
  }
  t.equal(failures, 0);
  t.same([...blurred].sort(), [false, true], 'some seeds blur, some do not');
  const rotations = Array.from({ length: 300 }, (_, seed) => describeDistortion(seed).rotationDeg);
  t.ok(Math.min(...rotations) < -8 && Math.max(...rotations) > 8, 'the range is covered');
});

t.test('options narrow the ranges; odd inputs still work', async (t) => {
  const input = await photo(640, 480);
  const small = await distortPhoto(input, 3, { outputWidth: [320, 320], jpegQuality: [90, 90] });
  t.equal((await sharp(small).metadata()).width, 320);
  t.equal(describeDistortion(3, { jpegQuality: [90, 90] }).jpegQuality, 90);

  const transparentGrey = await sharp({ create: { width: 300, height: 500, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  const grey = await sharp(await photo(500, 300)).grayscale().jpeg().toBuffer();
  for (const odd of [transparentGrey, grey]) {
    const meta = await sharp(await distortPhoto(odd, 5)).metadata();
    t.equal(meta.channels, 3, 'RGB JPEG out of RGBA and grey inputs');
  }
  await t.rejects(distortPhoto(Buffer.from('not an image'), 1));
});

t.test('distortPixels on an area of decoded pixels gives the bytes distortPhoto gives on a lossless picture of it', async (t) => {
  const input = await photo(900, 640);
  const decoded = await decodeForDistortion(input);
  t.same(decoded.info, { width: 900, height: 640, channels: 3 });
  const area = { left: 123, top: 57, width: 611, height: 430 };
  const cut = await sharp(decoded.data, { raw: decoded.info }).extract(area).png().toBuffer();
  for (const seed of [1, 7, 99]) {
    const options = seed === 99 ? { cropArea: [1, 1] as [number, number], cropAspect: [1, 1] as [number, number] } : {};
    const viaPhoto = await distortPhoto(cut, seed, options);
    t.ok((await distortPixels(decoded, seed, options, area)).equals(viaPhoto), `seed ${seed}: same bytes`);
  }
  t.ok((await distortPixels(decoded, 5)).equals(await distortPhoto(input, 5)), 'no area: the whole photo');
  await t.rejects(distortPixels(decoded, 1, {}, { left: 800, top: 0, width: 200, height: 100 }), RangeError, 'an area outside the photo');
});

t.test('sensor noise is zero-mean with the drawn sigma, and clamps at black and white', async (t) => {
  const flat = (level: number) => sharp({ create: { width: 600, height: 400, channels: 3, background: { r: level, g: level, b: level } } }).png().toBuffer();
  const options: DistortionOptions = {
    cropArea: [1, 1],
    cropAspect: [1, 1],
    rotationDeg: [0, 0],
    shear: [0, 0],
    exposure: [1, 1],
    whiteBalance: [1, 1],
    blurSigma: [0, 0],
    noiseSigma: [5, 5],
    jpegQuality: [100, 100],
    outputWidth: [600, 600],
  };
  const stats = async (level: number) => {
    const { data } = await sharp(await distortPhoto(await flat(level), 3, options)).raw().toBuffer({ resolveWithObject: true });
    let sum = 0;
    let squares = 0;
    for (const v of data) {
      sum += v - level;
      squares += (v - level) ** 2;
    }
    return { mean: sum / data.length, sd: Math.sqrt(squares / data.length - (sum / data.length) ** 2), data };
  };
  const grey = await stats(128);
  t.ok(Math.abs(grey.mean) < 0.3, `mean offset ${grey.mean.toFixed(3)}`);
  // JPEG keeps colour at half resolution (4:2:0), which averages part of the per-channel noise away: under 5, not near 0.
  t.ok(grey.sd > 2.5 && grey.sd < 5, `sd ${grey.sd.toFixed(2)}: the drawn 5 less what chroma subsampling averages`);
  const black = await stats(0);
  t.ok(black.data.every((v) => v >= 0) && black.mean > 1, 'black clamps at 0, so its noise only brightens');
  const white = await stats(255);
  t.ok(white.mean < -1, 'white clamps at 255, so its noise only darkens');
});
