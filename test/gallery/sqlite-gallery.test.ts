import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { SqliteGallery } from '../../daemon/gallery/sqlite-gallery.js';
import { fitViewModel } from '../../daemon/domain/view-model.js';
import type { Candidate, RegionPackMessage } from '../../daemon/transport/messages.js';

function candidate(id: string, seed: number, info: Record<string, unknown> = {}): Candidate {
  const feature = Float32Array.from({ length: 8 }, (_, i) => Math.sin(seed * 7.3 + i) / 3);
  return { id, feature, info: { name: `Spot ${id}`, ...info } };
}

function pack(region: string, version: string, ids: string[]): RegionPackMessage {
  return {
    type: 'region-pack',
    model: 'm1',
    region,
    galleryVersion: version,
    // Service information on some spots only: replies name candidates by id, so the cached pack must keep it.
    spots: ids.map((id, i) => ({
      id,
      feature: candidate(id, i + 1).feature,
      x: i * 80.5,
      y: -i * 3.25,
      popularity: i + 0.5,
      ...(i % 2 === 0 ? { info: { name: id.toUpperCase(), url: `https://x.test/${id}`, tags: ['a'] } } : {}),
    })),
  };
}

function rowCount(path: string, table: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get());
  } finally {
    db.close();
  }
}

t.test('spots, results and packs persist across reopen; the file is in WAL mode', async (t) => {
  const path = join(t.testdir(), 'nested', 'gallery.db');
  const g = new SqliteGallery(path, { maxResults: 10_000 });
  const a = candidate('a', 1, { description: 'first', url: 'https://x.test/a', hours: [9, 17] });
  g.upsertCandidates([a, candidate('b', 2)], 1000);
  g.upsertCandidates([candidate('b', 3)], 2000);
  g.recordResult({ at: 10, spotId: 'a', score: 0.9, label: 'frame-1.jpg' });
  g.recordResult({ at: 20, spotId: null, score: 0.1 });
  g.saveRegionPack(pack('old-town', 'v1', ['a', 'b', 'c']), 3000);
  t.ok(existsSync(`${path}-wal`), 'a -wal file while open');
  g.close();
  g.close(); // idempotent

  const raw = new Database(path, { readonly: true });
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(raw.pragma('user_version', { simple: true }), 2, 'schema version recorded');
  raw.close();

  const h = new SqliteGallery(path, { maxResults: 10_000 });
  t.teardown(() => h.close());
  const spotA = h.getSpot('a')!;
  t.same([...spotA.feature], [...a.feature], 'feature bit-exact');
  t.ok(spotA.feature instanceof Float32Array);
  t.same(spotA.info, a.info);
  t.equal(spotA.updatedAt, 1000);
  t.same([...h.getSpot('b')!.feature], [...candidate('b', 3).feature], 'upsert replaced b');
  t.equal(h.getSpot('b')!.updatedAt, 2000);
  t.equal(h.getSpot('nope'), undefined);
  t.same(h.allSpots().map((s) => s.id).sort(), ['a', 'b']);
  t.same(h.history(), [
    { at: 20, spotId: null, score: 0.1 },
    { at: 10, spotId: 'a', score: 0.9, label: 'frame-1.jpg' },
  ], 'newest first');
  t.same(h.history(1), [{ at: 20, spotId: null, score: 0.1 }]);
  t.same(h.loadRegionPack('old-town', 'm1'), pack('old-town', 'v1', ['a', 'b', 'c']), 'region pack round trip');
});

t.test('region packs: one per (region, model), replaced by newer ones, absent ones undefined', async (t) => {
  const g = new SqliteGallery(join(t.testdir(), 'g.db'), { maxResults: 10_000 });
  t.teardown(() => g.close());
  t.equal(g.loadRegionPack('x', 'm1'), undefined);
  g.saveRegionPack(pack('x', 'v1', ['a']));
  g.saveRegionPack(pack('y', 'v1', ['a', 'b']));
  g.saveRegionPack(pack('x', 'v2', ['c', 'd']));
  t.equal(g.loadRegionPack('x', 'm1')!.galleryVersion, 'v2');
  t.same(g.loadRegionPack('x', 'm1')!.spots.map((s) => s.id), ['c', 'd']);
  t.same(g.loadRegionPack('y', 'm1')!.spots.map((s) => s.id), ['a', 'b']);
  t.equal(g.loadRegionPack('x', 'other-model'), undefined);
  const empty = { ...pack('z', 'v1', []) };
  g.saveRegionPack(empty);
  t.same(g.loadRegionPack('z', 'm1'), empty, 'an empty pack is a valid pack');
});

t.test('a cached region pack remembers the operator keys it was checked against; packs cached before count as unsigned', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 10_000 });
  g.saveRegionPack(pack('signed', 'v1', ['a']), 1000, 'k1,k2');
  g.saveRegionPack(pack('plain', 'v1', ['b']));
  t.equal(g.loadCachedRegionPack('signed', 'm1')?.trustedKeys, 'k1,k2');
  t.equal(g.loadCachedRegionPack('plain', 'm1')?.trustedKeys, '', 'none pinned');
  g.close();
  // The file as a build before schema step 2 left it: no trusted_keys column.
  const old = new Database(path);
  old.exec('ALTER TABLE region_packs DROP COLUMN trusted_keys');
  old.pragma('user_version = 1');
  old.close();
  const reopened = new SqliteGallery(path, { maxResults: 10_000 });
  t.teardown(() => reopened.close());
  t.same(reopened.loadCachedRegionPack('signed', 'm1'), { pack: pack('signed', 'v1', ['a']), trustedKeys: '' }, 'kept through the upgrade, as unsigned');
});

t.test('the history is bounded: only the last maxResults survive, also when the bound shrinks', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 5 });
  for (let i = 1; i <= 12; i++) g.recordResult({ at: i, spotId: `s${i}`, score: i / 12 });
  t.same(g.history().map((r) => r.at), [12, 11, 10, 9, 8]);
  t.same(g.history(100).length, 5);
  g.close();
  t.equal(rowCount(path, 'results'), 5, 'deleted on disk, not just hidden');

  const h = new SqliteGallery(path, { maxResults: 3 });
  t.equal(rowCount(path, 'results'), 3, 'pruned on open with a smaller bound');
  h.recordResult({ at: 13, spotId: null, score: 0 });
  t.same(h.history().map((r) => r.at), [13, 12, 11]);
  h.close();
});

t.test('the spot cache is bounded: least recently seen spots are evicted', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 10_000, maxSpots: 3 });
  g.upsertCandidates([candidate('a', 1), candidate('b', 2)], 100);
  g.upsertCandidates([candidate('c', 3)], 200);
  g.upsertCandidates([candidate('a', 1)], 300); // a seen again: b is now the oldest
  g.upsertCandidates([candidate('d', 4)], 400);
  t.same(g.allSpots().map((s) => s.id).sort(), ['a', 'c', 'd']);
  g.close();
  t.equal(rowCount(path, 'spots'), 3);
  const h = new SqliteGallery(path, { maxResults: 10_000, maxSpots: 3 });
  t.same(h.allSpots().map((s) => s.id).sort(), ['a', 'c', 'd']);
  h.close();
});

t.test('bad input is refused whole and loses nothing', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 10_000 });
  t.teardown(() => g.close());
  const old = candidate('keep', 1);
  g.upsertCandidates([old], 10);
  g.saveRegionPack(pack('r', 'v1', ['a', 'b']));

  const nan = candidate('bad', 2);
  nan.feature[3] = NaN;
  const changed = candidate('keep', 5);
  t.throws(() => g.upsertCandidates([changed, nan], 20), /bad.*non-finite feature/);
  t.throws(() => g.upsertCandidates([changed, { ...candidate('x', 1), info: {} as never }], 20), /service info name/);
  t.throws(() => g.upsertCandidates([changed, { ...candidate('x', 1), id: '' }], 20), /no id/);
  t.same([...g.getSpot('keep')!.feature], [...old.feature], 'the valid candidate of a bad batch was not written');
  t.equal(g.getSpot('bad'), undefined);
  t.equal(rowCount(path, 'spots'), 1);

  const badPack = pack('r', 'v2', ['c', 'd']);
  badPack.spots[1].popularity = 0;
  t.throws(() => g.saveRegionPack(badPack), /popularity/);
  const dupPack = pack('r', 'v2', ['c', 'c']);
  t.throws(() => g.saveRegionPack(dupPack), /repeated id/);
  const mixedDims = pack('r', 'v2', ['c', 'd']);
  mixedDims.spots[1].feature = new Float32Array(3);
  t.throws(() => g.saveRegionPack(mixedDims), /bad feature/);
  t.equal(g.loadRegionPack('r', 'm1')!.galleryVersion, 'v1', 'old pack kept');

  t.throws(() => g.recordResult({ at: NaN, spotId: 'a', score: 1 }), /timestamp/);
  t.throws(() => g.recordResult({ at: 1, spotId: 'a', score: Infinity }), /score/);
  t.same(g.history(), []);
});

t.test('a damaged cached pack is ignored, not fatal', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 10_000 });
  g.saveRegionPack(pack('r', 'v1', ['a']));
  g.close();
  const raw = new Database(path);
  raw.prepare('UPDATE region_packs SET payload = ?').run(Buffer.from([0xa1, 0x61, 0x76, 0x02]));
  raw.close();
  const h = new SqliteGallery(path, { maxResults: 10_000 });
  t.equal(h.loadRegionPack('r', 'm1'), undefined);
  h.close();
});

t.test('a new model drops cached spots (their features mean nothing to it) but keeps history', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const g = new SqliteGallery(path, { maxResults: 10_000, model: 'm1' });
  g.upsertCandidates([candidate('a', 1)], 1);
  g.recordResult({ at: 1, spotId: 'a', score: 1 });
  g.close();
  const same = new SqliteGallery(path, { maxResults: 10_000, model: 'm1' });
  t.equal(same.allSpots().length, 1, 'same model keeps spots');
  same.close();
  const other = new SqliteGallery(path, { maxResults: 10_000, model: 'm2' });
  t.equal(other.allSpots().length, 0);
  t.equal(other.history().length, 1);
  other.close();
});

t.test('open errors are UserErrors naming the path', async (t) => {
  const dir = t.testdir({ 'file.txt': 'not a folder', 'text.db': 'hello, this is plain text and not SQLite at all. '.repeat(30) });
  const underFile = join(dir, 'file.txt', 'g.db');
  t.throws(() => new SqliteGallery(underFile, { maxResults: 10_000 }), { name: 'UserError', message: new RegExp(`Cannot open the device gallery ${underFile}`) });
  const text = join(dir, 'text.db');
  t.throws(() => new SqliteGallery(text, { maxResults: 10_000 }), { name: 'UserError', message: /text\.db \(it is not a SQLite database\)/ });
  t.throws(() => new SqliteGallery(dir, { maxResults: 10_000 }), { name: 'UserError', message: new RegExp(dir) });

  const foreign = join(dir, 'foreign.db');
  const db = new Database(foreign);
  db.exec('CREATE TABLE things (x)');
  db.close();
  t.throws(() => new SqliteGallery(foreign, { maxResults: 10_000 }), { name: 'UserError', message: /foreign\.db is a SQLite database but not a device gallery/ });

  const future = join(dir, 'future.db');
  new SqliteGallery(future, { maxResults: 10_000 }).close();
  const f = new Database(future);
  f.pragma('user_version = 99');
  f.close();
  t.throws(() => new SqliteGallery(future, { maxResults: 10_000 }), { name: 'UserError', message: /schema version 99 but this build knows only up to 2/ });

  t.throws(() => new SqliteGallery(join(dir, 'ok.db'), { maxResults: -1 }), RangeError);
  t.throws(() => new SqliteGallery(join(dir, 'ok.db'), { maxResults: 1.5 }), RangeError);
});

t.test('gallery.historyLimit 0 (the schema allows it: "keeps none") keeps no history, and writes none', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const kept = new SqliteGallery(path, { maxResults: 5 });
  kept.recordResult({ at: 1, spotId: 's1', score: 0.9 });
  kept.close();
  const g = new SqliteGallery(path, { maxResults: 0 });
  t.equal(rowCount(path, 'results'), 0, 'what an earlier run kept is pruned on open');
  g.recordResult({ at: 2, spotId: 's2', score: 0.8 });
  t.same(g.history(), []);
  t.same(g.history(10), []);
  g.close();
  t.equal(rowCount(path, 'results'), 0);
  t.notOk(readFileSync(path).includes('s2'), 'the spot id never reached the file');
});

t.test('a cached region pack keeps each spot view model, so decoys after a restart are drawn like fresh ones', async (t) => {
  const path = join(t.testdir(), 'edge.db');
  const fresh = pack('old-town', 'v1', ['a', 'b']);
  const reference = fresh.spots[0].feature;
  const norm = Math.hypot(...reference);
  const unit = reference.map((x) => x / norm);
  const views = [0.05, -0.04, 0.03, -0.02].map((d, k) => unit.map((x, i) => x + d * Math.cos(i + k)));
  fresh.spots[0].feature = unit;
  fresh.spots[0].view = fitViewModel(unit, views, 2);
  const g = new SqliteGallery(path, { maxResults: 10_000 });
  g.saveRegionPack(fresh);
  g.close();
  const reopened = new SqliteGallery(path, { maxResults: 10_000 });
  t.teardown(() => reopened.close());
  const cached = reopened.loadRegionPack('old-town', 'm1');
  const view = cached?.spots[0].view;
  t.ok(view, 'the view model survived the cache');
  t.equal(view?.directions.length, fresh.spots[0].view.directions.length, 'same number of directions');
  t.ok(Math.abs((view?.residual ?? 0) - fresh.spots[0].view.residual) < 0.02, 'same residual size, within 8-bit storage');
  t.notOk(cached?.spots[1].view, 'a spot without a view model stays without one');
});

t.test('the history keeps results only for maxResultAgeMs, and deleted ones leave no bytes in the file', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const minute = 60_000;
  const g = new SqliteGallery(path, { maxResults: 10_000, maxResultAgeMs: 15 * minute });
  g.recordResult({ at: 0, spotId: 'bakery-on-elm-street', score: 0.9 });
  g.recordResult({ at: 10 * minute, spotId: 'b', score: 0.8 });
  t.same(g.history().map((r) => r.spotId), ['b', 'bakery-on-elm-street'], 'both within 15 minutes');
  g.recordResult({ at: 20 * minute, spotId: 'c', score: 0.7 });
  t.same(g.history().map((r) => r.spotId), ['c', 'b'], 'a new result pushes out those older than 15 minutes');
  t.equal(g.pruneHistory(40 * minute), 2, 'a quiet device forgets too');
  t.same(g.history(), []);
  g.close();
  const bytes = readFileSync(path).toString('latin1') + (existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).toString('latin1') : '');
  t.notOk(bytes.includes('bakery-on-elm-street'), 'secure_delete: the deleted spot id is gone from the file and its WAL');
  t.throws(() => new SqliteGallery(join(t.testdir(), 'h.db'), { maxResults: 10_000, maxResultAgeMs: 0 }), /maxResultAgeMs/);
});

t.test('the wearer habits outlive a reopen, and what cannot be read is ignored, not fatal', async (t) => {
  const path = join(t.testdir(), 'g.db');
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(String((JSON.parse(line) as { msg: string }).msg)) });
  const g = new SqliteGallery(path, { maxResults: 10, logger });
  t.equal(g.loadHabits(), undefined, 'a new gallery has none');
  g.saveHabits({ visitsMs: [12_000.4, 95_000], walksMs: [30_000] });
  g.close();
  g.saveHabits({ visitsMs: [1], walksMs: [1] });
  t.pass('a save after close is dropped, not thrown');

  const h = new SqliteGallery(path, { maxResults: 10, logger });
  t.same(h.loadHabits(), { visitsMs: [12_000, 95_000], walksMs: [30_000] }, 'lengths only, whole ms');
  for (const bad of ['{', '[]', '{"visitsMs":[1e12],"walksMs":[]}', '{"visitsMs":[-5],"walksMs":[]}', '{"visitsMs":["a"],"walksMs":[]}', '{"visitsMs":[]}']) {
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'wearer_habits'").run(bad);
    db.close();
    t.equal(h.loadHabits(), undefined, `unreadable: ${bad}`);
  }
  t.equal(warnings.length, 6, 'each with a warning');
  t.ok(h.forgetHabits(), 'forgetting deletes them');
  t.equal(h.forgetHabits(), false, 'and there is then nothing to forget');
  t.equal(h.loadHabits(), undefined);
  h.close();
});
