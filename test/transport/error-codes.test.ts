import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Encoder } from 'cbor-x';
import { decode, encode, WireError } from '../../daemon/transport/codec.js';
import { isWireErrorCode, WIRE_ERROR_CODE_LIST, WIRE_ERROR_CODES } from '../../daemon/transport/error-codes.js';
import type { WireLimits } from '../../daemon/transport/messages.js';
import { packageRoot } from '../../daemon/util/paths.js';

const limits: WireLimits = { maxBytes: 4096, dimension: 4, maxCandidates: 4, maxSpots: 4 };
const raw = new Encoder({ useRecords: false, tagUint8Array: false });

t.test("docs/protocol.md's error table is the code table: the same codes, in order, with the same meanings", async (t) => {
  const doc = await readFile(`${packageRoot}/docs/protocol.md`, 'utf8');
  const header = '| code | meaning, and what a device should do |\n|---|---|\n';
  t.ok(doc.includes(header), 'the table is there');
  const rows = doc
    .slice(doc.indexOf(header) + header.length)
    .split('\n')
    .filter((line, i, lines) => lines.slice(0, i + 1).every((l) => l.startsWith('|')))
    .map((line) => /^\| `([^`]+)` \| (.*) \|$/.exec(line)?.slice(1) ?? [line]);
  t.same(rows, Object.entries(WIRE_ERROR_CODES));
  t.equal(WIRE_ERROR_CODE_LIST.at(-1), 'other', "'other' comes last");
});

t.test('every code crosses the wire; an unknown one arrives as other, a malformed one is refused, none is sent', async (t) => {
  for (const code of WIRE_ERROR_CODE_LIST) {
    t.same(decode(encode({ type: 'error', code, message: 'why' }), limits), { type: 'error', code, message: 'why' }, code);
  }
  const newer = decode(raw.encode({ v: 1, t: 'e', c: 'rate-limited', msg: 'slow down' }), limits);
  t.same(newer, { type: 'error', code: 'other', message: '(unknown code rate-limited) slow down' }, "a newer recognizer's code: 'other', named in the message");
  const long = decode(raw.encode({ v: 1, t: 'e', c: 'rate-limited', msg: 'x'.repeat(1024) }), limits);
  t.equal(long.type === 'error' && long.message.length, 1024, 'the message stays within its bound');
  for (const c of ['Busy', '-busy', 'busy!', '', 'x'.repeat(65), 7]) {
    t.throws(() => decode(raw.encode({ v: 1, t: 'e', c, msg: 'm' }), limits), WireError, `malformed code ${JSON.stringify(c)}`);
  }
  t.notOk(isWireErrorCode('constructor'), 'no code from the prototype');
  t.notOk(isWireErrorCode('__proto__'));
  // @ts-expect-error: a code outside the table does not type-check, and is refused at run time too.
  t.throws(() => encode({ type: 'error', code: 'rate-limited', message: 'm' }), /error code "rate-limited" is not one of wrong-model, bad-request/);
});
