/**
 * The edge killed with SIGKILL while it writes results (issue #10, point 5): `enfpire edge` as its own process,
 * results streaming at ~10 a second, killed at a random moment, three times over the same file. Afterwards SQLite's
 * integrity check passes and every result the device acknowledged (sent on its local API's /events, which happens
 * only after the row is committed) is in the file.
 */
import t from 'tap';
import { get } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SqliteGallery } from '../../daemon/gallery/sqlite-gallery.js';
import { enrolSampleGallery, startRecognizer, writeEdgeProfile } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { eventually } from '../transport/fixtures.js';
import { freePort, startService } from './processes.js';

interface Acked {
  at: string;
  label: string | null;
}

/** Follows /events and collects every result event (the data line after an `event: result` line). */
function follow(port: number): { acked: Acked[]; close: () => void } {
  const acked: Acked[] = [];
  const req = get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
    let event = '';
    const lines = createInterface({ input: res });
    // The stream ends with a reset when the edge is killed: expected here.
    lines.on('error', () => undefined);
    lines.on('line', (line) => {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ') && event === 'result') {
        const r = JSON.parse(line.slice(6)) as Acked;
        acked.push({ at: r.at, label: r.label });
      }
    });
  });
  req.on('error', () => undefined);
  return { acked, close: () => req.destroy() };
}

t.test('SIGKILL while writing results: the file passes integrity_check and keeps every acknowledged result', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const dir = t.testdir();
  const recognizer = await startRecognizer(dir, broker.url, await enrolSampleGallery(dir));
  t.teardown(() => recognizer.stop());
  const port = await freePort();
  const profile = await writeEdgeProfile(dir, broker.url, {
    camera: { fps: 10 },
    scheduler: { ratePerSecond: 20 },
    api: { enabled: true, listen: `127.0.0.1:${port}` },
    gallery: { historyLimit: 10_000 },
  });
  const dbPath = join(dir, 'edge.db');
  const allAcked: Acked[] = [];

  for (let round = 1; round <= 3; round++) {
    const edge = await startService(t, ['edge', '--config', profile], /"msg":"local API listening"/);
    const events = follow(port);
    t.ok(await eventually(() => events.acked.length >= 20, 30_000), `round ${round}: results stream (${events.acked.length})`);
    // A random moment between two results, when the next row may be half written.
    await new Promise((r) => setTimeout(r, Math.random() * 100));
    edge.kill('SIGKILL');
    await edge.exited;
    events.close();
    allAcked.push(...events.acked);

    const gallery = new SqliteGallery(dbPath, { maxResults: 10_000 });
    try {
      t.same(gallery.integrityCheck(), ['ok'], `round ${round}: integrity_check passes`);
      const stored = new Set(gallery.history(10_000).map((r) => `${new Date(r.at).toISOString()}|${r.label ?? null}`));
      const missing = allAcked.filter((a) => !stored.has(`${a.at}|${a.label}`));
      t.same(missing, [], `round ${round}: all ${allAcked.length} acknowledged results so far are in the file`);
      t.ok(stored.size >= allAcked.length, `${stored.size} rows for ${allAcked.length} acknowledged`);
    } finally {
      gallery.close();
    }
  }
});
