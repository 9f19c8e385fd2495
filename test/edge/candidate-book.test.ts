/** Replies name candidates by id or spot digest; the device takes features and service information from its region pack. */
import t from 'tap';
import { CandidateBook } from '../../daemon/edge/candidate-book.js';
import type { QueryMessage, RegionPackMessage, ReplyMessage } from '../../daemon/transport/messages.js';
import { spotDigest } from '../../daemon/transport/spot-digest.js';
import { recordingLogger } from '../transport/fixtures.js';

const feature = (x: number) => Float32Array.from([x, 1 - x, 0]);
const pack: RegionPackMessage = {
  type: 'region-pack',
  model: 'm1',
  region: 'north',
  galleryVersion: 'g1',
  spots: [
    { id: 'arch', feature: feature(1), x: 0, y: 0, popularity: 1, info: { name: 'Arch', url: 'https://x.test/arch' } },
    { id: 'bridge', feature: feature(0.5), x: 1, y: 0, popularity: 1 },
  ],
};
const reply = (galleryVersion: string, ids: string[]): ReplyMessage => ({
  type: 'reply',
  model: 'm1',
  galleryVersion,
  candidates: ids.map((id) => ({ id })),
});

t.test('candidates get the pack’s feature and service information; unknown ids are counted and left out', async (t) => {
  const book = new CandidateBook(pack);
  const resolved = book.resolve(reply('g1', ['bridge', 'elsewhere', 'arch']));
  t.same(resolved.candidates.map((c) => c.id), ['bridge', 'arch'], 'in the recognizer’s order, known ids only');
  t.same(resolved.candidates[1], { id: 'arch', feature: feature(1), info: { name: 'Arch', url: 'https://x.test/arch' } });
  t.same(resolved.candidates[0].info, { name: 'bridge' }, 'a spot the pack has no information for is named by its id');
  t.same(book.counters(), { unknownCandidates: 1, otherVersionReplies: 0 });
});

t.test('replies from another gallery version are counted and named once in the log', async (t) => {
  const log = recordingLogger();
  const book = new CandidateBook(pack, log.logger);
  for (let i = 0; i < 3; i++) t.equal(book.resolve(reply('g2', ['arch'])).candidates.length, 1, 'spots both versions hold still resolve');
  t.equal(book.counters().otherVersionReplies, 3);
  t.equal(log.lines().filter((l) => /another gallery version/.test(l.msg)).length, 1, 'one warning, not one per reply');
});

const byDigest = (galleryVersion: string, digests: number[]): ReplyMessage => ({
  type: 'reply',
  model: 'm1',
  galleryVersion,
  candidates: [],
  digests: Uint32Array.from(digests),
});

t.test('a reply by digest resolves to the candidates the reply by id does; unknown digests are counted', async (t) => {
  const ids = ['bridge', 'elsewhere', 'arch'];
  const viaIds = new CandidateBook(pack).resolve(reply('g1', ids));
  const book = new CandidateBook(pack);
  const viaDigests = book.resolve(byDigest('g1', ids.map(spotDigest)));
  t.same(viaDigests, viaIds, 'the same candidates, features and service information, in the same order');
  t.same(book.counters(), { unknownCandidates: 1, otherVersionReplies: 0 }, 'the digest of a spot the pack lacks is counted as an unknown id is');
});

t.test('a digest two pack spots share names both: the resolver scores each against the frame', async (t) => {
  // spot-44213 and spot-93388 share the digest 4054580450 (found by a birthday search over spot-0…spot-93388).
  const shared = 4054580450;
  const spots = ['spot-44213', 'spot-93388'].map((id, i) => ({ id, feature: feature(i / 4), x: 0, y: 0, popularity: 1 }));
  const book = new CandidateBook({ ...pack, spots: [...pack.spots, ...spots] });
  const resolved = book.resolve(byDigest('g1', [spotDigest('arch'), shared]));
  t.same(resolved.candidates.map((c) => c.id), ['arch', 'spot-44213', 'spot-93388']);
  t.same(book.counters().unknownCandidates, 0);
});

t.test('as a transport: every query asks for digests, and the daemon sees whole candidates either way', async (t) => {
  const book = new CandidateBook(pack);
  const asked: QueryMessage[] = [];
  // A recognizer that predates digests ignores the flag and answers ids; a current one answers digests.
  const old = book.transport({ query: async (q) => (asked.push(q), reply('g1', ['arch'])) });
  const current = book.transport({ query: async (q) => (asked.push(q), byDigest('g1', [spotDigest('arch')])) });
  const q: QueryMessage = { type: 'query', model: 'm1', vector: feature(1), topM: 1 };
  t.equal((await old.query(q)).candidates[0].info.name, 'Arch');
  t.equal((await current.query(q)).candidates[0].info.name, 'Arch');
  t.ok(asked.every((a) => a.digests === true && a.topM === 1 && a.vector === q.vector), 'each query asked for digests, nothing else changed');
  t.notOk('digests' in q, "the caller's query is left as it was");
});
