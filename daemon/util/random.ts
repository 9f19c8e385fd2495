import { randomBytes } from 'node:crypto';

/**
 * The randomness the privacy layer draws from. Production uses `cryptoRandom()`: the server knows the
 * algorithm, so decoys are only as unpredictable as their random source. Evaluation and tests use
 * `seededRandom(seed)` so that a run can be repeated exactly.
 */
export interface Random {
  /** Uniform in [0, 1), 53 bits of resolution. */
  next(): number;
  /** Standard normal (mean 0, variance 1). */
  normal(): number;
  /** Uniform integer in [0, n); `n` must be a positive integer. */
  int(n: number): number;
  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[];
  /** One uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** Everything above a source of uniform 32-bit words, shared by both generators. */
function fromUint32(nextUint32: () => number): Random {
  // Box–Muller yields normals in pairs; keeping the second halves the cost of decoy synthesis.
  let spare: number | null = null;

  const next = (): number => {
    // 27 + 26 bits: every double in [0, 1) on the 2^-53 grid is equally likely.
    const hi = nextUint32() >>> 5;
    const lo = nextUint32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  };

  const int = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Random.int needs a positive integer, got ${n}`);
    // Bias of floor(next() * n) is below n / 2^53: irrelevant for any array we index.
    return Math.floor(next() * n);
  };

  return {
    next,
    int,
    normal(): number {
      if (spare !== null) {
        const z = spare;
        spare = null;
        return z;
      }
      const u = 1 - next(); // (0, 1]: log(0) would be -Infinity
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    shuffle<T>(items: T[]): T[] {
      for (let i = items.length - 1; i > 0; i--) {
        const j = int(i + 1);
        const tmp = items[i];
        items[i] = items[j];
        items[j] = tmp;
      }
      return items;
    },
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('Random.pick needs a non-empty array');
      return items[int(items.length)];
    },
  };
}

/**
 * Cryptographically strong randomness from node:crypto. Bytes are fetched in blocks because a decoy
 * needs one normal per dimension and a syscall per number would dominate the transform's cost.
 */
export function cryptoRandom(blockBytes = 8192): Random {
  const words = Math.max(1, Math.floor(blockBytes / 4));
  let pool = new Uint32Array(0);
  let pos = 0;
  return fromUint32(() => {
    if (pos >= pool.length) {
      const bytes = randomBytes(words * 4);
      pool = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
      pos = 0;
    }
    return pool[pos++];
  });
}

/**
 * Fast deterministic generator (xoshiro128**, state expanded from the seed with splitmix32). Never use it
 * for production queries: its output is predictable from a few samples.
 */
export function seededRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new RangeError(`seededRandom needs a finite seed, got ${seed}`);
  let x = Math.trunc(seed) >>> 0;
  // A seed beyond 32 bits still changes the stream: fold the high part in.
  x = (x ^ Math.trunc(Math.trunc(seed) / TWO_POW_32)) >>> 0;
  const splitmix32 = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  const s = new Uint32Array([splitmix32(), splitmix32(), splitmix32(), splitmix32()]);
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point

  return fromUint32(() => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  });
}

function rotl(v: number, k: number): number {
  return ((v << k) | (v >>> (32 - k))) >>> 0;
}
