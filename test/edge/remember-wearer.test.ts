/**
 * privacy.rememberWearer: what the wearer decoys learn of the wearer (visit and walk lengths) is kept in the device
 * gallery file across a restart, and deleted when the setting is off. The device as `enfpire edge` assembles it, a
 * real Mosquitto and recognizer, the sample photos replayed (each frame another spot: each a finished visit).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { recordUnhandledRejections, startBackend, startEdge } from '../helpers/edge-rig.js';
import { eventually } from '../transport/fixtures.js';

function storedHabits(path: string): { visitsMs: number[]; walksMs: number[] } | undefined {
  const db = new Database(path, { readonly: true });
  try {
    const value = db.prepare<[], string>("SELECT value FROM meta WHERE key = 'wearer_habits'").pluck().get();
    return value === undefined ? undefined : (JSON.parse(value) as { visitsMs: number[]; walksMs: number[] });
  } finally {
    db.close();
  }
}

t.test('the wearer habits outlive a restart in the gallery file, and rememberWearer false deletes them', async (t) => {
  const unhandled = recordUnhandledRejections();
  t.teardown(unhandled.stop);
  const { dir, brokerUrl } = await startBackend(t);
  const devicePath = join(dir, 'edge.db');

  const run = async (rememberWearer: boolean, results: number) => {
    const { edge, results: got } = await startEdge(dir, brokerUrl, { privacy: { rememberWearer } });
    try {
      t.ok(await eventually(() => got.length >= results, 60_000), `rememberWearer ${rememberWearer}: ${results} frames answered`);
    } finally {
      await edge.stop();
    }
  };

  await run(true, 6);
  const first = storedHabits(devicePath);
  t.ok(first && first.visitsMs.length >= 3, `visits learned and saved (${first?.visitsMs.length})`);
  t.ok(first!.visitsMs.every((ms) => Number.isInteger(ms) && ms > 0), 'lengths in whole ms, nothing else');
  t.same(Object.keys(first!).sort(), ['visitsMs', 'walksMs'], 'no spot, no time of day');

  await run(true, 6);
  const second = storedHabits(devicePath);
  t.ok(second!.visitsMs.length > first!.visitsMs.length, `the second start went on from the first's (${first!.visitsMs.length} → ${second!.visitsMs.length})`);
  t.same(second!.visitsMs.slice(0, first!.visitsMs.length), first!.visitsMs, 'what the first start learned comes first');

  await run(false, 3);
  t.equal(storedHabits(devicePath), undefined, 'rememberWearer false: deleted at start and none saved');
  t.same(unhandled.reasons, []);
});
