import t from 'tap';
import { TapLedger } from '../../daemon/eval/tap-ledger.js';
import type { TappedMessage } from '../../daemon/eval/tap-connection.js';
import { spotDigest } from '../../daemon/transport/spot-digest.js';

const query = (key: string): TappedMessage => ({ kind: 'query', key, reply_topic: `enfpire/v1/reply/${key}`, vector: [1, 0], topM: 8 });
const answer = (key: string, candidates: string[]): TappedMessage => ({ kind: 'answer', key, candidates });

t.test('a query the broker never answers is waited for once, then given up, and the waits after it go through', async (t) => {
  const ledger = new TapLedger();
  ledger.add(query('a'), 1);
  ledger.add(query('b'), 2);
  ledger.add(answer('a', ['s1', 's2']), 3);
  t.equal(await ledger.waitFor(2, 50), false, "b has no reply: the wait times out");
  t.equal(ledger.abandonUnanswered(), 1, 'one query given up');
  t.equal(await ledger.waitFor(2, 50), true, 'the next wait for the same count goes through at once');
  ledger.add(query('c'), 4);
  const waiting = ledger.waitFor(3, 1_000);
  ledger.add(answer('c', ['s3']), 5);
  t.equal(await waiting, true, 'later queries are waited for as before');
  ledger.add(answer('b', ['late']), 6);
  t.same(ledger.records.map((r) => r.candidates), [['s1', 's2'], [], ['s3']], "the given-up query keeps no candidates; a late reply is ignored");
  t.equal(ledger.abandonUnanswered(), 0, 'nothing open');
});

t.test('a reply by spot digest is recorded as the gallery ids with those digests, as the server reads it', async (t) => {
  // spot-44213 and spot-93388 share the digest 4054580450 (found by a birthday search over spot-0…spot-93388).
  const ledger = new TapLedger(['arch', 'bridge', 'spot-44213', 'spot-93388']);
  ledger.add(query('a'), 1);
  ledger.add({ kind: 'answer', key: 'a', digests: [spotDigest('bridge'), 4054580450, 7, spotDigest('arch')] }, 2);
  t.same(ledger.records[0].candidates, ['bridge', 'spot-44213', 'spot-93388', 'arch'], 'best first; a shared digest names both ids; an unknown one none');
  t.equal(ledger.unknownDigests, 1, 'the digest no gallery id has is counted');
  t.equal(await ledger.waitFor(1, 50), true, 'the query counts as answered');
});
