/**
 * Spot digests: a reply may name its candidates by a 32-bit digest of each spot id instead of the id (docs/protocol.md,
 * "Reply", key `h`). That is 4 bytes a candidate where an id of 8-20 characters takes 9-21, so a 256-candidate reply
 * shrinks from about 2.4 kB to about 1 kB. The device resolves the digests against its region pack, where it holds
 * every spot of its region anyway; the recognizer computes them from its gallery. Neither keeps any other state: no
 * ordinals, no table to agree on, nothing to store with the gallery.
 *
 * Two ids of one pack may share a digest (about pack size / 2^32 for each candidate a reply names). A collision only
 * adds the other spot to the candidates: the device's resolver scores every candidate against the frame, so the extra
 * spot wins only if it is the better match, which a reply of ids could have named too. It never makes a wrong answer
 * by itself.
 */
import { createHash } from 'node:crypto';

/** Bytes one digest takes on the wire. */
export const DIGEST_BYTES = 4;

/** The first 4 bytes, big-endian, of SHA-256 over the id's UTF-8, as an unsigned 32-bit integer. */
export function spotDigest(id: string): number {
  return createHash('sha256').update(id, 'utf8').digest().readUInt32BE(0);
}

/** Digests as one byte string, 4 bytes each, big-endian, in order. */
export function packDigests(digests: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(digests.length * DIGEST_BYTES);
  const view = new DataView(out.buffer);
  for (let i = 0; i < digests.length; i++) view.setUint32(i * DIGEST_BYTES, digests[i]);
  return out;
}

/** The digests of a byte string made by packDigests; its length must be a multiple of 4. */
export function unpackDigests(bytes: Uint8Array): Uint32Array {
  if (bytes.length % DIGEST_BYTES !== 0) throw new RangeError(`${bytes.length} bytes are not a whole number of ${DIGEST_BYTES}-byte digests`);
  const out = new Uint32Array(bytes.length / DIGEST_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * DIGEST_BYTES);
  return out;
}

/** Every id under its digest (several ids where digests collide), for turning digests back into ids. */
export function digestTable(ids: Iterable<string>): Map<number, string[]> {
  const table = new Map<number, string[]>();
  for (const id of ids) {
    const digest = spotDigest(id);
    const same = table.get(digest);
    if (!same) table.set(digest, [id]);
    else if (!same.includes(id)) same.push(id);
  }
  return table;
}
