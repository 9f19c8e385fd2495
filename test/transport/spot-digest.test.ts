/** Spot digests (daemon/transport/spot-digest.ts): the 32-bit names a reply may give its candidates by. */
import t from 'tap';
import { digestTable, packDigests, spotDigest, unpackDigests } from '../../daemon/transport/spot-digest.js';

t.test('a digest is the first 4 bytes of SHA-256 over the id’s UTF-8, big-endian', async (t) => {
  // Worked out apart from the code: python3 -c 'import hashlib; d = hashlib.sha256("…".encode()).digest(); print(int.from_bytes(d[:4], "big"))'
  t.equal(spotDigest('arch'), 2299309026, 'arch: sha256 begins 890cabe2');
  t.equal(spotDigest('spot-0'), 2226743246, 'spot-0: sha256 begins 84b967ce');
  t.equal(spotDigest('Kölner Dom'), 3524308955, 'UTF-8, not UTF-16 or Latin-1: sha256 begins d210afdb');
  t.equal(spotDigest(''), 0xe3b0c442, 'the empty string: the well-known e3b0c442…');
});

t.test('packed digests are 4 bytes each, big-endian, in order, and unpack to the same numbers', async (t) => {
  const digests = [0, 1, 0xdeadbeef, 0xffffffff, spotDigest('arch')];
  const bytes = packDigests(digests);
  t.equal(bytes.length, 20);
  t.same(Array.from(bytes.subarray(8, 12)), [0xde, 0xad, 0xbe, 0xef], 'most significant byte first');
  t.same(Array.from(unpackDigests(bytes)), digests);
  t.same(Array.from(unpackDigests(Buffer.concat([Buffer.from([9]), bytes]).subarray(1))), digests, 'from an unaligned view into a larger buffer');
  t.same(Array.from(unpackDigests(packDigests(Uint32Array.from(digests)))), digests, 'a Uint32Array packs the same');
  t.equal(packDigests([]).length, 0);
  t.throws(() => unpackDigests(new Uint8Array(7)), RangeError, '7 bytes are not whole digests');
});

t.test('the digest table lists every id under its digest, both ids where two share one', async (t) => {
  // spot-44213 and spot-93388 share the digest 4054580450 (found by a birthday search over spot-0…spot-93388).
  t.equal(spotDigest('spot-44213'), 4054580450);
  t.equal(spotDigest('spot-93388'), 4054580450);
  const table = digestTable(['arch', 'spot-44213', 'arch', 'spot-93388']);
  t.same(table.get(4054580450), ['spot-44213', 'spot-93388']);
  t.same(table.get(spotDigest('arch')), ['arch'], 'an id given twice is listed once');
  t.equal(table.size, 2);
});
