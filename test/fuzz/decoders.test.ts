/**
 * Fuzzing every decoder of untrusted bytes (issue #10, point 4): the wire codec (decodeRouted, with the daemon's own
 * limits), the gallery's feature and view-model blobs, and the camera's JPEG and raw-frame splitters. Each gets
 * FUZZ_MESSAGES (100,000 by default) generated and mutated inputs; the test asserts that nothing but the documented
 * error type is thrown, that what is accepted is sound, that valid messages are never refused, and that time per
 * message and heap stay bounded. The figures go to docs/reliability.md ("Fuzzing").
 */
import t from 'tap';
import fc from 'fast-check';
import { decodeRouted, encode, WireError } from '../../daemon/transport/codec.js';
import { wireLimitsFor } from '../../daemon/transport/limits.js';
import { blobToFeature, featureToBlob } from '../../daemon/storage/feature-blob.js';
import { blobToViewModel, viewModelToBlob } from '../../daemon/storage/view-model-blob.js';
import { JpegSplitter } from '../../daemon/camera/jpeg-splitter.js';
import { createPublicKey } from 'node:crypto';
import { generateSigningKeys, PayloadSigner, SignatureError, TrustedKeys } from '../../daemon/transport/signing.js';
import { FixedSizeSplitter } from '../../daemon/camera/raw-splitter.js';
import { bombs, head, MUTATIONS, seededUnit, unsound, wireSamples, type Sample } from './messages.js';
import { cpuMs, FUZZ_MESSAGES, FUZZ_SEED, heapMiB, Tally, Timings } from './measure.js';

/** The limits the daemon runs with, for a 64-d model: 8 MiB payloads, 256 candidates, 20,000 spots. */
const limits = wireLimitsFor(64);
/** Per-message ceiling for payloads up to 256 KiB. */
const MAX_MS = 250;
/** Heap growth allowed between the first tenth of a run and its end, after full collections. */
const MAX_HEAP_GROWTH_MIB = 32;

// The largest valid message: a region pack of 64-d spots with full view models, just under 8 MiB.
const spot = (i: number) => ({
  id: `spot-${i}`,
  feature: seededUnit(i, 64),
  x: i,
  y: -i,
  popularity: 1,
  view: { mean: seededUnit(i + 1, 64).map((x) => x / 10), directions: Array.from({ length: 8 }, (_, j) => seededUnit(9 * i + j, 64)), scales: Array(8).fill(0.1), residual: 0.2 },
});
const pack = encode({ type: 'region-pack', model: 'm', region: 'r', galleryVersion: 'v', spots: Array.from({ length: 10_000 }, (_, i) => spot(i)) });

/** Fastest decode time and largest heap growth (allocated during the call) over `rounds` decodes of `bytes`. */
function cost(bytes: Buffer, rounds = 1): { ms: number; mib: number } {
  const best = { ms: Infinity, mib: 0 };
  for (let round = 0; round < rounds; round++) {
    const before = heapMiB();
    const t0 = cpuMs();
    let kept: unknown;
    try {
      kept = decodeRouted(bytes, limits);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
    }
    best.ms = Math.min(best.ms, cpuMs() - t0);
    best.mib = Math.max(best.mib, process.memoryUsage().heapUsed / 2 ** 20 - before);
    void kept;
  }
  return best;
}

/** The decoding cost of the largest valid message, measured here first: the yardstick for payloads near 8 MiB. */
const valid = cost(pack, 2);

/**
 * Per-message ceiling for payloads over 256 KiB, up to the 8 MiB limit. The largest valid message (an 8 MiB region
 * pack) takes ~0.5 s here; the costliest hostile shape within the item budgets (maps of distinct text keys) ~3 times
 * that on a busy machine. Before the budgets an 8 MiB payload took 3.8 s and 540 MB, a bignum tag hours.
 */
const MAX_LARGE_MS = 3_000;

/** Time allowed for one payload: MAX_MS up to 256 KiB; beyond that decoding is linear in the size, up to MAX_LARGE_MS. */
const allowedMs = (bytes: number) => (bytes <= 256 * 1024 ? MAX_MS : MAX_LARGE_MS);

t.comment(`FUZZ_MESSAGES=${FUZZ_MESSAGES} FUZZ_SEED=${FUZZ_SEED}`);

/** Decodes one payload: whether it was accepted, and what is wrong (only WireError may escape the decoder). */
function check(sample: Sample): { accepted: boolean; problem?: string } {
  let msg;
  try {
    msg = decodeRouted(sample.bytes, limits).msg;
  } catch (err) {
    if (!(err instanceof WireError)) return { accepted: false, problem: `threw ${(err as Error)?.name}: ${(err as Error)?.message}` };
    if (/\n/.test(err.message)) return { accepted: false, problem: 'a reason of more than one line' };
    if (sample.kind === 'valid') return { accepted: false, problem: `a valid message was refused: ${err.message}` };
    return { accepted: false };
  }
  const problems = unsound(msg, limits);
  return { accepted: true, problem: problems.length > 0 ? `accepted an unsound ${msg.type}: ${problems.join('; ')}` : undefined };
}

t.test(`decodeRouted: ${FUZZ_MESSAGES} generated and mutated messages`, async (t) => {
  const timings = new Timings(FUZZ_MESSAGES);
  const small = new Timings(FUZZ_MESSAGES);
  const kinds = new Tally();
  const accepted = new Tally();
  const heap: number[] = [];
  const started = performance.now();
  const cpuStarted = cpuMs();
  let n = 0;
  fc.assert(
    fc.property(wireSamples(limits), (sample) => {
      const t0 = cpuMs();
      const { accepted: ok, problem } = check(sample);
      const ms = cpuMs() - t0;
      timings.add(ms, sample.label);
      if (sample.bytes.length <= 256 * 1024) small.add(ms, sample.label);
      kinds.add(sample.kind);
      accepted.add(sample.kind, ok ? 1 : 0);
      if (++n === Math.ceil(FUZZ_MESSAGES / 10) || n === FUZZ_MESSAGES) heap.push(heapMiB());
      if (problem) throw new Error(`${sample.kind} (${sample.label}): ${problem}`);
      if (ms > allowedMs(sample.bytes.length)) throw new Error(`${sample.kind} (${sample.label}) took ${ms.toFixed(1)} ms, more than ${allowedMs(sample.bytes.length)}`);
    }),
    { numRuns: FUZZ_MESSAGES, seed: FUZZ_SEED, endOnFailure: true },
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = (cpuMs() - cpuStarted) / 1000;
  t.equal(timings.count, FUZZ_MESSAGES, `${FUZZ_MESSAGES} messages, none crashed the decoder`);
  t.ok(small.max < MAX_MS, `slowest message up to 256 KiB: ${small.max.toFixed(1)} ms < ${MAX_MS} ms`);
  const growth = heap[heap.length - 1] - heap[0];
  t.ok(growth < MAX_HEAP_GROWTH_MIB, `heap ${heap.map((h) => h.toFixed(1)).join(' → ')} MiB: grew ${growth.toFixed(1)} MiB < ${MAX_HEAP_GROWTH_MIB}`);
  t.ok(kinds.get('valid') > 0 && accepted.get('valid') === kinds.get('valid'), 'every valid message decoded');
  for (const kind of ['mutated', 'hostile-field', 'bomb', 'cbor-value', 'cbor-grammar', 'random']) t.ok(kinds.get(kind) > 0, `${kind} messages were fed`);
  t.comment(`decodeRouted: ${FUZZ_MESSAGES} messages in ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU (generation included); CPU per message: ${timings.summary()}`);
  t.comment(`fed: ${kinds.toString()}; accepted: ${accepted.toString()}`);
});

t.test('every hand-built bomb is refused with a one-line WireError, in bounded time and memory', async (t) => {
  const before = heapMiB();
  for (const [label, bytes] of bombs(limits)) {
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = cpuMs();
    let error: unknown;
    let msg: ReturnType<typeof decodeRouted>['msg'] | undefined;
    try {
      msg = decodeRouted(bytes, limits).msg;
    } catch (err) {
      error = err;
    }
    const ms = cpuMs() - t0;
    // Allocated during the call (no collection in between): what one message can cost at its peak, roughly.
    const allocated = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    if (!error) {
      // A few bombs are well-formed messages with odd but harmless values (-0, a subnormal scale): they must be sound.
      t.same(unsound(msg!, limits), [], `${label}: accepted, and sound`);
    } else {
      t.ok(error instanceof WireError && !/\n/.test(error.message), `${label}: ${(error as Error).message}`);
    }
    t.ok(ms < allowedMs(bytes.length) && allocated < 64, `${label}: ${ms.toFixed(1)} ms, ${allocated.toFixed(1)} MiB allocated`);
  }
  const grown = heapMiB() - before;
  t.ok(grown < 8, `heap after all bombs: +${grown.toFixed(1)} MiB`);
});

t.test('regressions found by fuzzing', async (t) => {
  const tagged = (tagNumber: number, content: Buffer) => Buffer.concat([head(6, tagNumber), content]);
  // 1. A bignum tag (2) over a long byte string: cbor-x built the BigInt byte by byte, in quadratic time (100 kB took
  //    1.2 s; an 8 MiB one would have taken hours). Tags are now refused before parsing.
  const bignum = tagged(2, Buffer.concat([head(2, 1_000_000), Buffer.alloc(1_000_000, 0xab)]));
  let t0 = cpuMs();
  t.throws(() => decodeRouted(bignum, limits), { name: 'WireError', message: /a tag \(2\); the protocol uses none/ });
  t.ok(cpuMs() - t0 < 50, 'a 1 MB bignum is refused at once');

  // 2. A vector scale that is a finite float64 but overflows float32 (1e300) decoded to ±Infinity components.
  const query = encode({ type: 'query', model: 'm', topM: 1, vector: seededUnit(1, 64) });
  const scaleAt = query.lastIndexOf(0xfa);
  const huge = Buffer.concat([query.subarray(0, scaleAt), Buffer.from([0xfb]), Buffer.alloc(8), query.subarray(scaleAt + 5)]);
  huge.writeDoubleBE(1e300, scaleAt + 1);
  t.throws(() => decodeRouted(huge, limits), { name: 'WireError', message: /query vector scale is number 1e\+300, expected a finite number ≥ 0/ });
  const largest = Buffer.from(huge);
  largest.writeDoubleBE(3.4e38 / 128, scaleAt + 1);
  t.equal(decodeRouted(largest, limits).msg.type, 'query', 'the largest scale that stays finite is accepted');

  // 3. An 8 MiB payload of one-byte empty maps made cbor-x build 8 million objects: 3.8 s and 540 MB of heap. Now at
  //    most maxItemsFor(limits) items are built, about what the largest valid region pack needs.
  const emptyMaps = Buffer.concat([head(4, limits.maxBytes - 9), Buffer.alloc(limits.maxBytes - 9, 0xa0)]);
  t0 = cpuMs();
  t.throws(() => decodeRouted(emptyMaps, limits), { name: 'WireError', message: /more than \d+ data items/ });
  t.ok(cpuMs() - t0 < MAX_MS, `8 MiB of empty maps refused in ${(cpuMs() - t0).toFixed(0)} ms`);

  // 4. Nesting is refused past 16 levels before cbor-x recurses (it used to rely on catching a stack overflow).
  t.throws(() => decodeRouted(Buffer.concat([Buffer.alloc(17, 0x81), Buffer.from([0])]), limits), { message: /nested deeper than 16 levels/ });
  t.throws(() => decodeRouted(Buffer.concat([Buffer.alloc(16, 0x81), Buffer.from([0])]), limits), { message: /message is an array/ }, '16 levels parse');
  // Indefinite-length arrays and maps are valid CBOR for the same values and still decode; non-minimal heads too.
  const info = { type: 'info' as const, model: 'm', dimension: 64, galleryVersion: 'v', spots: 1, regions: ['a'] };
  const definite = encode(info);
  const indefinite = Buffer.concat([Buffer.from([0xbf]), definite.subarray(1), Buffer.from([0xff])]);
  t.same(decodeRouted(indefinite, limits).msg, info, 'an indefinite-length map decodes');
  const nonMinimal = Buffer.concat([head(5, definite[0] & 0x1f, 8), definite.subarray(1)]);
  t.same(decodeRouted(nonMinimal, limits).msg, info, 'an 8-byte map head decodes');
});

t.test('the worst payloads within 8 MiB cost about what the largest valid region pack costs', async (t) => {
  // Just under the item and map-entry budgets of the production limits (maxItemsFor, maxMapEntriesFor in codec.ts).
  const items = 1_400_000;
  const entries = 307_200;
  const hostile: Array<[string, Buffer]> = [
    ['empty maps', Buffer.concat([head(4, items), Buffer.alloc(items, 0xa0)])],
    ['empty arrays', Buffer.concat([head(4, items), Buffer.alloc(items, 0x80)])],
    ['nulls', Buffer.concat([head(4, items), Buffer.alloc(items, 0xf6)])],
    ['float16 NaNs', Buffer.concat([head(4, items), Buffer.alloc(3 * items).fill(Buffer.from([0xf9, 0x7e, 0x00]))])],
    ['one-byte strings', Buffer.concat([head(4, items), Buffer.alloc(2 * items).fill(Buffer.from([0x61, 0x61]))])],
    ['distinct integer keys', distinctKeys(entries, false)],
    ['distinct text keys', distinctKeys(entries, true)],
    ['maps of 32 distinct text keys', manyMaps(entries / 32, 32)],
  ];
  t.ok(pack.length <= limits.maxBytes, `the valid pack has ${(pack.length / 2 ** 20).toFixed(1)} MiB`);
  t.comment(`largest valid region pack: ${valid.ms.toFixed(0)} ms, heap +${valid.mib.toFixed(0)} MiB`);
  for (const [label, bytes] of hostile) {
    const c = cost(bytes);
    t.ok(c.ms <= MAX_LARGE_MS, `${label}: ${c.ms.toFixed(0)} ms (valid pack ${valid.ms.toFixed(0)} ms)`);
    t.ok(c.mib <= 2 * valid.mib + 8, `${label}: heap +${c.mib.toFixed(0)} MiB (valid pack +${valid.mib.toFixed(0)} MiB)`);
  }
});

/** A map of `n` distinct keys (integers, or 4-character strings) to empty maps, 6 bytes an entry. */
function distinctKeys(n: number, text: boolean): Buffer {
  const out = Buffer.alloc(9 + 6 * n);
  head(5, n, 8).copy(out);
  for (let i = 0; i < n; i++) {
    if (text) {
      out[9 + 6 * i] = 0x64;
      out.write((70_000 + i).toString(36).padStart(4, '0').slice(-4), 10 + 6 * i, 'latin1');
    } else {
      out[9 + 6 * i] = 0x1a;
      out.writeUInt32BE(70_000 + i, 10 + 6 * i);
    }
    out[14 + 6 * i] = 0xa0;
  }
  return out;
}

/** An array of `count` maps of `per` distinct 8-character text keys to 0. */
function manyMaps(count: number, per: number): Buffer {
  const parts = [head(4, count)];
  for (let j = 0; j < count; j++) {
    parts.push(head(5, per));
    for (let i = 0; i < per; i++) parts.push(Buffer.from(`\x68${(j * per + i).toString(36).padStart(8, '0')}\x00`, 'latin1'));
  }
  return Buffer.concat(parts);
}

t.test(`signed wrappers (TrustedKeys.open, pinned key): ${FUZZ_MESSAGES} payloads, only SignatureError`, async (t) => {
  const keys = generateSigningKeys();
  const signer = new PayloadSigner(keys.privatePem);
  const trusted = new TrustedKeys();
  trusted.add(createPublicKey(keys.publicPem));
  const unpinned = new TrustedKeys();
  const correlation = Buffer.from('0123456789abcdef');
  // Signed wire samples (valid or not inside), then mutated; and the unsigned samples themselves.
  const signed = wireSamples(limits, { weights: { bomb: 1 } }).map((sample) => ({ inner: sample.bytes, bytes: signer.wrap(sample.bytes, correlation) }));
  const names = Object.keys(MUTATIONS) as Array<keyof typeof MUTATIONS>;
  const payloads = fc.oneof(
    signed.map((x) => ({ ...x, label: 'signed' })),
    fc.tuple(signed, signed, fc.constantFrom(...names), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 6, maxLength: 6 })).map(([a, b, name, r]) => ({ inner: undefined, bytes: Buffer.from(MUTATIONS[name](a.bytes, r, b.bytes)), label: `signed, ${name}` })),
    wireSamples(limits).map((sample) => ({ inner: undefined, bytes: sample.bytes, label: `unsigned ${sample.label}` })),
  );
  const opened = new Tally();
  const timings = fuzz(
    payloads,
    ({ inner, bytes }) => {
      for (const keys of [trusted, unpinned]) {
        try {
          const message = keys.open(bytes, correlation, limits.maxBytes);
          opened.add(keys === trusted ? 'pinned' : 'unpinned');
          // With a pinned key, only an untouched wrapper opens, and gives exactly the bytes that were signed.
          if (keys === trusted && (inner === undefined ? !bytes.equals(signer.wrap(Buffer.from(message), correlation)) : !Buffer.from(message).equals(inner))) {
            throw new Error('a payload opened that was not the signed one');
          }
        } catch (err) {
          if (!(err instanceof SignatureError)) throw err;
        }
      }
    },
    ({ bytes, label }) => `${label} (${bytes.length} bytes)`,
  );
  t.equal(timings.count, FUZZ_MESSAGES);
  t.ok(opened.get('pinned') > 0, 'signed payloads opened with the pinned key');
  t.comment(`TrustedKeys.open: ${timings.count} payloads, opened ${opened.toString()}; CPU per payload (both key sets): ${timings.summary()}`);

  // Regression: open() parsed every payload with cbor-x before decodeRouted's checks, so an unsigned bignum tag took
  // quadratic time there (100 kB: 6 s) and 8 MiB of empty maps 15 s. Now a wrapper is checked to be one flat map first.
  const bignum = Buffer.concat([head(6, 2), head(2, 1_000_000), Buffer.alloc(1_000_000, 0xab)]);
  const emptyMaps = Buffer.concat([head(4, limits.maxBytes - 9), Buffer.alloc(limits.maxBytes - 9, 0xa0)]);
  for (const [label, bytes] of [['1 MB bignum', bignum], ['8 MiB of empty maps', emptyMaps]] as const) {
    const t0 = cpuMs();
    t.throws(() => trusted.open(bytes, undefined, limits.maxBytes), { name: 'SignatureError', message: 'payload is not signed' });
    t.equal(unpinned.open(bytes, undefined, limits.maxBytes), bytes, `${label}: passed on unopened without a pinned key`);
    t.ok(cpuMs() - t0 < 50, `${label}: ${(cpuMs() - t0).toFixed(1)} ms`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Decoders of bytes from disk (gallery blobs) and from camera programs (stream splitters)

/** Runs `feed` FUZZ_MESSAGES times over fast-check inputs; returns timings. `feed` throws to fail. */
function fuzz<T>(arb: fc.Arbitrary<T>, feed: (x: T) => void, label: (x: T) => string): Timings {
  const timings = new Timings(FUZZ_MESSAGES);
  fc.assert(
    fc.property(arb, (x) => {
      const t0 = cpuMs();
      feed(x);
      const ms = cpuMs() - t0;
      timings.add(ms, label(x));
      if (ms > MAX_MS) throw new Error(`${label(x)} took ${ms.toFixed(1)} ms`);
    }),
    { numRuns: FUZZ_MESSAGES, seed: FUZZ_SEED, endOnFailure: true },
  );
  return timings;
}

/** Valid bytes of some encoder, then any of the byte-level mutations (or none). */
function mutatedBlob(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const names = Object.keys(MUTATIONS) as Array<keyof typeof MUTATIONS>;
  return fc.oneof(
    valid,
    fc.tuple(valid, valid, fc.constantFrom(...names), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 6, maxLength: 6 })).map(([a, b, name, r]) => Buffer.from(MUTATIONS[name](a, r, b))),
    fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
  );
}

t.test(`feature and view-model blobs: ${FUZZ_MESSAGES} blobs each, only RangeError`, async (t) => {
  const dimension = 64;
  const features = mutatedBlob(fc.integer().map((seed) => featureToBlob(seededUnit(seed, dimension))));
  const f = fuzz(
    features,
    (blob) => {
      try {
        const v = blobToFeature(blob);
        if (v.length * 4 !== blob.length) throw new Error(`a ${blob.length}-byte blob gave ${v.length} values`);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
      }
    },
    (b) => `feature blob of ${b.length} bytes`,
  );
  t.comment(`blobToFeature: ${f.count} blobs; ${f.summary()}`);
  t.equal(f.count, FUZZ_MESSAGES);

  const views = mutatedBlob(
    fc.tuple(fc.integer(), fc.integer({ min: 0, max: 8 })).map(([seed, p]) =>
      viewModelToBlob({
        mean: seededUnit(seed, dimension).map((x) => x / 10),
        directions: Array.from({ length: p }, (_, j) => seededUnit(seed + j + 1, dimension)),
        scales: new Array<number>(p).fill(0.25),
        residual: 0.5,
      }),
    ),
  );
  const v = fuzz(
    views,
    (blob) => {
      try {
        const view = blobToViewModel(blob, dimension);
        if (view.mean.length !== dimension || view.directions.some((d) => d.length !== dimension) || view.scales.length !== view.directions.length) {
          throw new Error('a view model of the wrong shape');
        }
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
      }
    },
    (b) => `view model blob of ${b.length} bytes`,
  );
  t.comment(`blobToViewModel: ${v.count} blobs; ${v.summary()}`);
  t.equal(v.count, FUZZ_MESSAGES);
});

/** A small JPEG-shaped frame: SOI, an APP1 segment (which may hold an EOI), SOS, entropy data with stuffing, EOI. */
const jpegFrame = fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([app, scan]) => {
  const entropy = Buffer.from(scan.map((b) => (b === 0xff ? 0x00 : b)));
  const seg = (marker: number, body: Uint8Array) => Buffer.concat([Buffer.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff]), body]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), seg(0xe1, app), seg(0xda, Buffer.from([1, 2, 3])), entropy, Buffer.from([0xff, 0x00, 0xff, 0xd9])]);
});

t.test(`camera stream splitters: ${FUZZ_MESSAGES} chunks each, no throw, bounded buffers`, async (t) => {
  const maxFrameBytes = 64 * 1024;
  const drops = new Tally();
  const splitter = new JpegSplitter({ maxFrameBytes, onDrop: (reason) => drops.add(reason) });
  // A stream of frames, mutated, cut into arbitrary chunks; sometimes a burst of garbage or an over-long frame.
  const chunks = fc.oneof(
    { weight: 8, arbitrary: mutatedBlob(jpegFrame).chain((b) => fc.integer({ min: 0, max: b.length }).map((cut) => [b.subarray(0, cut), b.subarray(cut)])) },
    { weight: 1, arbitrary: fc.constant([Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]), Buffer.alloc(maxFrameBytes, 0x11)])]) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4000 }).map((b) => [Buffer.from(b)]) },
  );
  let frames = 0;
  const j = fuzz(
    chunks,
    (parts) => {
      for (const part of parts) {
        for (const frame of splitter.push(part)) {
          frames++;
          if (frame[0] !== 0xff || frame[1] !== 0xd8 || frame[frame.length - 2] !== 0xff || frame[frame.length - 1] !== 0xd9) throw new Error('a frame without SOI … EOI');
          if (frame.length > maxFrameBytes + 8192) throw new Error(`a frame of ${frame.length} bytes`);
        }
      }
      const held = (splitter as unknown as { buf: Buffer }).buf.length;
      if (held > 2 * maxFrameBytes + 8192) throw new Error(`the splitter holds ${held} bytes`);
    },
    (parts) => `JPEG chunks of ${parts.map((p) => p.length).join('+')} bytes`,
  );
  t.comment(`JpegSplitter: ${j.count} chunk groups, ${frames} frames out, drops: ${drops.toString()}; ${j.summary()}`);
  t.equal(j.count, FUZZ_MESSAGES);
  t.ok(frames > 0 && drops.get('invalid-marker') > 0 && drops.get('too-large') > 0, 'frames came out and bad ones were dropped');

  const frameBytes = 4608; // a 64×48 I420 frame
  const raw = new FixedSizeSplitter(frameBytes);
  let total = 0;
  let out = 0;
  const r = fuzz(
    fc.integer({ min: 0, max: 3 * frameBytes }),
    (n) => {
      total += n;
      for (const frame of raw.push(Buffer.alloc(n, n & 0xff))) {
        if (frame.length !== frameBytes) throw new Error(`a raw frame of ${frame.length} bytes`);
        out += frame.length;
      }
      if (out + raw.pending !== total || raw.pending >= frameBytes) throw new Error('raw splitter lost or invented bytes');
    },
    (n) => `raw chunk of ${n} bytes`,
  );
  t.comment(`FixedSizeSplitter: ${r.count} chunks, ${out / frameBytes} frames; ${r.summary()}`);
  t.equal(r.count, FUZZ_MESSAGES);
});
