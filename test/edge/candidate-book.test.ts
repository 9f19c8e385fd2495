/** Replies name candidates by id; the device takes features and service information from its region pack. */
import t from 'tap';
import { CandidateBook } from '../../daemon/edge/candidate-book.js';
import type { RegionPackMessage, ReplyMessage } from '../../daemon/transport/messages.js';
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

t.test('as a transport: the daemon sees whole candidates', async (t) => {
  const book = new CandidateBook(pack);
  const transport = book.transport({ query: async () => reply('g1', ['arch']) });
  const resolved = await transport.query({ type: 'query', model: 'm1', vector: feature(1), topM: 1 });
  t.equal(resolved.candidates[0].info.name, 'Arch');
});
