/**
 * What a new identity's first query shows (issue #9, rotation bridging), on the shipped daemon in virtual time. A real
 * query that waited through the offline pause of an identity change used to be built again and sent as the new
 * identity's first query — showing the spot the wearer stood at, the very spot the old identity's last real queries
 * showed, whatever the deferred arrival said — and linking the two identities by the spot they share read 0.186
 * against chance 0.088 (world 14, 36 wearers; docs/privacy.md, "The query that waited through the pause"). Measured
 * with this test's settings before the fix: 13 of 39 new identities opened with the old one's last real spot (0 of 36 after).
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../daemon/eval/eval-harness.js';
import { EVAL_TEST_BASE } from '../helpers/eval-base.js';

async function jsonLines<T>(path: string): Promise<T[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

interface Opening {
  changes: number;
  /** New identities whose first query was real. */
  openedReal: number;
  /** ... whose first query showed the old identity's last real spot. */
  carried: number;
  /** ... whose real queries of their first WINDOW_MS showed it. */
  carriedInWindow: number;
}

/** How long into a new identity a server reads the spots shown for one the old identity showed. */
const WINDOW_MS = 60_000;

async function openings(t: Test, settings: Record<string, unknown>): Promise<Opening> {
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-rotation-opening-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const recordPath = join(dir, 'record.jsonl');
  const truthPath = join(dir, 'truth.jsonl');
  await runEval({ ...EVAL_TEST_BASE, k: 4, users: 6, minutes: 6, rotateIdentityMinutes: 0.5, recordPath, truthPath, deviceSettings: settings });
  const records = await jsonLines<{ reply_topic: string; t: number }>(recordPath);
  const truths = await jsonLines<{ user: number; spot: string | null }>(truthPath);

  // Each device's identities in the order they appeared, as lists of record indices.
  const identities = new Map<number, Map<string, number[]>>();
  records.forEach((r, i) => {
    const mine = identities.get(truths[i].user) ?? identities.set(truths[i].user, new Map()).get(truths[i].user)!;
    (mine.get(r.reply_topic) ?? mine.set(r.reply_topic, []).get(r.reply_topic)!).push(i);
  });
  const out: Opening = { changes: 0, openedReal: 0, carried: 0, carriedInWindow: 0 };
  for (const mine of identities.values()) {
    const list = [...mine.values()];
    for (let n = 1; n < list.length; n++) {
      out.changes++;
      const lastReal = list[n - 1].map((i) => truths[i].spot).filter((s) => s !== null).at(-1);
      const opening = truths[list[n][0]].spot;
      if (opening !== null) out.openedReal++;
      if (opening !== null && opening === lastReal) out.carried++;
      const from = records[list[n][0]].t;
      if (list[n].some((i) => records[i].t - from <= WINDOW_MS && truths[i].spot !== null && truths[i].spot === lastReal)) out.carriedInWindow++;
    }
  }
  return out;
}

/**
 * Decision 57: read over the new identity's first minute rather than its first query, the wearer's spot came back
 * at the new identity's first track move while the wearer still stood there. Measured with this test's settings: 6 of
 * 36 changes with `holdAcrossIdentity: false`, 3 of 36 held. On the 9 sample spots a wearer often leaves the spot and
 * comes back to it within the minute, a new visit that may go on the wire; the crowd's own test holds an unbroken
 * visit off the new wire for an hour (test/privacy/wearer-arrival.test.ts), and the 1,077-spot evaluation reads the
 * linker (docs/privacy.md, "A spot that comes back seconds after the change").
 *
 * Decision 64: on the daemon the hold was let go at the new identity's first query, because a real query waiting
 * through the offline pause stalled the pipeline and the transform saw no frame for the pause's length: 7 of 40 and 6
 * of 33 changes showed the spot within the minute (device seeds 3 and 11, startStationary on), the same with the hold
 * off. With frames named through the pause: 0 of 40 and 0 of 43.
 */
t.test('a new identity does not open with the spot the old one last showed as real, nor show it in its first minute', async (t) => {
  const held = await openings(t, {});
  t.comment(`${held.changes} identity changes; ${held.openedReal} new identities opened with a real query, ${held.carried} with the old one's last real spot, ${held.carriedInWindow} showed it within ${WINDOW_MS / 1000} s`);
  t.ok(held.changes >= 25, `enough identity changes to read (${held.changes})`);
  // A track whose visit ends in the new identity's first second may bring the wearer's spot back legitimately: rare.
  t.ok(held.carried <= 2, `at most a chance few new identities open with the old one's last real spot (${held.carried} of ${held.changes})`);
  // Only where the wearer left the spot and came back to it within the minute (a new visit).
  t.ok(held.carriedInWindow <= 4, `nor show it in their first minute more than a return visit does (${held.carriedInWindow} of ${held.changes})`);
});
