import { encode, decode } from 'cbor-x';
import type { Candidate, RegionPack, RegionSpot, ServiceInfo } from '../domain/spot.js';
import { isFiniteFeature } from '../domain/feature.js';
import { blobToFeature, featureToBlob } from '../storage/feature-blob.js';
import { openDatabase, type Migration, type SqliteDatabase } from '../storage/sqlite.js';
import { blobToViewModel, viewModelToBlob } from '../storage/view-model-blob.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { HabitStore, WearerHabits } from '../privacy/types.js';
import type { Gallery, ResultRecord, SpotRecord } from './types.js';

export interface SqliteGalleryOptions {
  /**
   * Results kept in the history; older ones are deleted as new ones arrive (gallery.historyLimit: required, its
   * default is the schema's). 0 keeps none: results are never written.
   */
  maxResults: number;
  /**
   * How long a result stays in the history, ms (DESIGN §4, "the device keeps no trail"); older ones are deleted on
   * open, as new ones arrive and on `pruneHistory()`. Default: kept until `maxResults` pushes them out.
   */
  maxResultAgeMs?: number;
  /** Spots kept in the cache; the least recently seen are evicted first. */
  maxSpots?: number;
  /**
   * The extractor's model id. Cached spot features only make sense for the model that made them, so when the
   * gallery was last used with another model its spots are dropped on open (history and region packs stay).
   */
  model?: string;
  logger?: Logger;
}

export const DEFAULT_MAX_SPOTS = 20_000;

/** 'EnG1': marks a SQLite file as a device gallery. */
const APPLICATION_ID = 0x456e4731;

const MIGRATIONS: readonly Migration[] = [
  (db) =>
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE spots (
        id TEXT PRIMARY KEY,
        feature BLOB NOT NULL,
        info TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX spots_updated_at ON spots (updated_at);
      CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        spot_id TEXT,
        score REAL NOT NULL,
        label TEXT
      );
      CREATE TABLE region_packs (
        region TEXT NOT NULL,
        model TEXT NOT NULL,
        gallery_version TEXT NOT NULL,
        payload BLOB NOT NULL,
        fetched_at INTEGER NOT NULL,
        PRIMARY KEY (region, model)
      );
    `),
  // The operator keys the device pinned when the pack arrived (all signed by one of them; '' when none was pinned): a
  // restart takes the cached copy instead of fetching it (decision 69) only under the same keys, so a key removed
  // since no longer vouches for it. Packs cached before count as unsigned.
  (db) => db.exec("ALTER TABLE region_packs ADD COLUMN trusted_keys TEXT NOT NULL DEFAULT ''"),
];

interface SpotRow {
  id: string;
  feature: Buffer;
  info: string;
  updated_at: number;
}

interface ResultRow {
  at: number;
  spot_id: string | null;
  score: number;
  label: string | null;
}

/**
 * The device's gallery in one SQLite file (WAL, so the status API can read while the pipeline writes). Spots are
 * mirrored in memory because the resolver scans them on every frame; writes go to both, inside one transaction per
 * call, after the whole input has been validated — a bad reply never leaves half of itself behind.
 */
export class SqliteGallery implements Gallery, HabitStore {
  readonly path: string;
  private readonly db: SqliteDatabase;
  private readonly log: Logger;
  private readonly maxResults: number;
  private readonly maxResultAgeMs: number;
  private readonly maxSpots: number;
  private readonly spots = new Map<string, SpotRecord>();
  private readonly stmt: ReturnType<typeof prepareStatements>;
  private closed = false;

  constructor(path: string, options: SqliteGalleryOptions) {
    this.path = path;
    this.log = options.logger ?? silentLogger();
    this.maxResults = nonNegativeInteger('maxResults', options.maxResults);
    this.maxSpots = positiveInteger('maxSpots', options.maxSpots ?? DEFAULT_MAX_SPOTS);
    this.maxResultAgeMs = options.maxResultAgeMs ?? Infinity;
    if (!(this.maxResultAgeMs > 0)) throw new RangeError(`maxResultAgeMs must be > 0, got ${options.maxResultAgeMs}`);
    this.db = openDatabase(path, {
      what: 'device gallery',
      applicationId: APPLICATION_ID,
      migrations: MIGRATIONS,
      journal: 'wal',
    });
    try {
      // Deleted history must not linger in free pages of the file: a stolen device would still hold the trail.
      this.db.pragma('secure_delete = ON');
      this.stmt = prepareStatements(this.db);
      if (options.model !== undefined) this.switchModel(options.model);
      this.loadSpots();
      this.stmt.pruneResults.run(this.maxResults);
      this.pruneHistory();
      this.evictExcessSpots();
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  upsertCandidates(candidates: Candidate[], now: number = Date.now()): void {
    this.assertOpen();
    if (!Array.isArray(candidates)) throw new TypeError('candidates must be an array');
    assertTime('now', now);
    // Validate and serialise everything first: nothing is written unless every candidate is sound.
    const rows = candidates.map((c, i) => {
      checkCandidate(c, i);
      const feature = new Float32Array(c.feature);
      const info = jsonOf(c.info, `candidate ${i} info`);
      return { record: { id: c.id, feature, info: JSON.parse(info) as ServiceInfo, updatedAt: now }, info };
    });
    this.db.transaction(() => {
      for (const { record, info } of rows) this.stmt.upsertSpot.run(record.id, featureToBlob(record.feature), info, now);
    })();
    for (const { record } of rows) this.spots.set(record.id, record);
    this.evictExcessSpots();
  }

  getSpot(id: string): SpotRecord | undefined {
    return this.spots.get(id);
  }

  /** A fresh array of the cached records; the records and their features are shared, treat them as read-only. */
  allSpots(): SpotRecord[] {
    return [...this.spots.values()];
  }

  recordResult(result: ResultRecord): void {
    this.assertOpen();
    assertTime('result.at', result?.at);
    if (result.spotId !== null && (typeof result.spotId !== 'string' || result.spotId === '')) {
      throw new TypeError('result.spotId must be a non-empty string or null');
    }
    if (!Number.isFinite(result.score)) throw new TypeError('result.score must be a finite number');
    if (result.label !== undefined && typeof result.label !== 'string') throw new TypeError('result.label must be a string');
    // A device that keeps no history writes none: not even a row deleted in the same transaction.
    if (this.maxResults === 0) return;
    this.db.transaction(() => {
      this.stmt.insertResult.run(result.at, result.spotId, result.score, result.label ?? null);
      this.stmt.pruneResults.run(this.maxResults);
      if (Number.isFinite(this.maxResultAgeMs)) this.stmt.pruneResultsBefore.run(result.at - this.maxResultAgeMs);
    })();
  }

  /** Deletes results older than the retention time; the daemon calls it now and then, so a quiet device forgets too. */
  pruneHistory(now: number = Date.now()): number {
    this.assertOpen();
    if (!Number.isFinite(this.maxResultAgeMs)) return 0;
    return this.stmt.pruneResultsBefore.run(now - this.maxResultAgeMs).changes;
  }

  history(limit: number = this.maxResults): ResultRecord[] {
    this.assertOpen();
    const n = Math.max(0, Math.min(Math.floor(limit), this.maxResults));
    return this.stmt.history.all(n).map((row) => {
      const record: ResultRecord = { at: row.at, spotId: row.spot_id, score: row.score };
      if (row.label !== null) record.label = row.label;
      return record;
    });
  }

  /** `trustedKeys`: the pinned operator keys every page was checked against ('' when none was pinned). */
  saveRegionPack(pack: RegionPack, now: number = Date.now(), trustedKeys = ''): void {
    this.assertOpen();
    assertTime('now', now);
    const payload = encodePackPayload(pack);
    this.stmt.savePack.run(pack.region, pack.model, pack.galleryVersion, payload, now, trustedKeys);
  }

  loadRegionPack(region: string, model: string): RegionPack | undefined {
    return this.loadCachedRegionPack(region, model)?.pack;
  }

  /** The cached pack and the operator keys it was checked against when it was fetched ('' for none). */
  loadCachedRegionPack(region: string, model: string): { pack: RegionPack; trustedKeys: string } | undefined {
    this.assertOpen();
    const row = this.stmt.loadPack.get(region, model);
    if (!row) return undefined;
    try {
      const pack: RegionPack = { type: 'region-pack', model, region, galleryVersion: row.gallery_version, spots: decodePackPayload(row.payload) };
      return { pack, trustedKeys: row.trusted_keys };
    } catch (err) {
      // A damaged cache entry just means fetching the pack again, not a device that cannot start.
      this.log.warn({ region, model, err: (err as Error).message }, 'ignoring unreadable cached region pack');
      return undefined;
    }
  }

  /**
   * The wearer's habits saved last (lengths only; see WearerHabits). What cannot be read as such — a file edited by
   * hand, a value from a newer build — is ignored with a warning: the device then learns them again.
   */
  loadHabits(): WearerHabits | undefined {
    this.assertOpen();
    const row = this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(HABITS_KEY);
    if (!row) return undefined;
    const habits = parseHabits(row.value);
    if (!habits) this.log.warn({ path: this.path }, "the stored wearer habits are unreadable; they are learned again from today's visits");
    return habits;
  }

  saveHabits(habits: WearerHabits): void {
    if (this.closed) return;
    try {
      const value = JSON.stringify({ visitsMs: habits.visitsMs.map(Math.round), walksMs: habits.walksMs.map(Math.round) });
      this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(HABITS_KEY, value);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, path: this.path }, 'could not save the wearer habits');
    }
  }

  /** Deletes the saved habits (privacy.rememberWearer off); true when there were some. */
  forgetHabits(): boolean {
    this.assertOpen();
    return this.db.prepare('DELETE FROM meta WHERE key = ?').run(HABITS_KEY).changes > 0;
  }

  /**
   * SQLite's own check of the whole file (PRAGMA integrity_check): `['ok']` for a sound file, else one line per
   * problem. The soak and the crash tests run it on the file an edge killed mid-write left behind.
   */
  integrityCheck(): string[] {
    this.assertOpen();
    const rows = this.db.pragma('integrity_check') as { integrity_check: unknown }[];
    return rows.map((row) => String(row.integrity_check));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`device gallery ${this.path} is closed`);
  }

  private switchModel(model: string): void {
    const row = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'model'").get();
    if (row?.value === model) return;
    this.db.transaction(() => {
      if (row) {
        const { changes } = this.db.prepare('DELETE FROM spots').run();
        this.log.info({ from: row.value, to: model, dropped: changes }, 'model changed: dropped cached spots');
      }
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('model', ?)").run(model);
    })();
  }

  private loadSpots(): void {
    const rows = this.db.prepare<[], SpotRow>('SELECT id, feature, info, updated_at FROM spots ORDER BY updated_at, id').all();
    for (const row of rows) {
      try {
        this.spots.set(row.id, {
          id: row.id,
          feature: blobToFeature(row.feature),
          info: JSON.parse(row.info) as ServiceInfo,
          updatedAt: row.updated_at,
        });
      } catch (err) {
        this.log.warn({ id: row.id, err: (err as Error).message }, 'skipping unreadable cached spot');
      }
    }
  }

  private evictExcessSpots(): void {
    const excess = this.spots.size - this.maxSpots;
    if (excess <= 0) return;
    for (const { id } of this.stmt.evictSpots.all(excess)) this.spots.delete(id);
  }
}

function prepareStatements(db: SqliteDatabase) {
  return {
    upsertSpot: db.prepare<[string, Buffer, string, number]>(
      `INSERT INTO spots (id, feature, info, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET feature = excluded.feature, info = excluded.info, updated_at = excluded.updated_at`,
    ),
    evictSpots: db.prepare<[number], { id: string }>(
      'DELETE FROM spots WHERE id IN (SELECT id FROM spots ORDER BY updated_at, id LIMIT ?) RETURNING id',
    ),
    insertResult: db.prepare<[number, string | null, number, string | null]>(
      'INSERT INTO results (at, spot_id, score, label) VALUES (?, ?, ?, ?)',
    ),
    pruneResults: db.prepare<[number]>('DELETE FROM results WHERE id <= (SELECT MAX(id) FROM results) - ?'),
    pruneResultsBefore: db.prepare<[number]>('DELETE FROM results WHERE at < ?'),
    history: db.prepare<[number], ResultRow>('SELECT at, spot_id, score, label FROM results ORDER BY id DESC LIMIT ?'),
    savePack: db.prepare<[string, string, string, Buffer, number, string]>(
      `INSERT OR REPLACE INTO region_packs (region, model, gallery_version, payload, fetched_at, trusted_keys) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    loadPack: db.prepare<[string, string], { gallery_version: string; payload: Buffer; trusted_keys: string }>(
      'SELECT gallery_version, payload, trusted_keys FROM region_packs WHERE region = ? AND model = ?',
    ),
  };
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function assertTime(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite timestamp`);
}

function checkCandidate(c: Candidate, i: number): void {
  if (typeof c !== 'object' || c === null) throw new TypeError(`candidate ${i} is not an object`);
  if (typeof c.id !== 'string' || c.id === '') throw new TypeError(`candidate ${i} has no id`);
  if (!isFiniteFeature(c.feature)) throw new TypeError(`candidate ${c.id} has a missing or non-finite feature`);
  if (typeof c.info !== 'object' || c.info === null || typeof c.info.name !== 'string') {
    throw new TypeError(`candidate ${c.id} has no service info name`);
  }
}

function jsonOf(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`${what} is not JSON-serialisable: ${(err as Error).message}`);
  }
}

/** Payload layout (CBOR): one contiguous float32 matrix plus parallel columns, ~4 bytes per feature element. */
interface PackPayload {
  v: 1;
  dimension: number;
  ids: string[];
  x: Float64Array;
  y: Float64Array;
  popularity: Float64Array;
  features: Float32Array;
  /** Each spot's view model in the spot store's blob form, or null; absent in packs cached before view models. */
  views?: Array<Uint8Array | null>;
  /** Each spot's service information as JSON, or null; absent in packs cached before replies stopped carrying it. */
  infos?: Array<string | null>;
}

function encodePackPayload(pack: RegionPack): Buffer {
  if (typeof pack !== 'object' || pack === null || pack.type !== 'region-pack') throw new TypeError('not a region pack');
  for (const key of ['model', 'region', 'galleryVersion'] as const) {
    if (typeof pack[key] !== 'string' || pack[key] === '') throw new TypeError(`region pack has no ${key}`);
  }
  if (!Array.isArray(pack.spots)) throw new TypeError('region pack spots must be an array');
  const n = pack.spots.length;
  const dimension = n > 0 && pack.spots[0]?.feature instanceof Float32Array ? pack.spots[0].feature.length : 0;
  const payload: PackPayload = {
    v: 1,
    dimension,
    ids: [],
    x: new Float64Array(n),
    y: new Float64Array(n),
    popularity: new Float64Array(n),
    features: new Float32Array(n * dimension),
    views: [],
    infos: [],
  };
  const seen = new Set<string>();
  pack.spots.forEach((s, i) => {
    if (typeof s?.id !== 'string' || s.id === '' || seen.has(s.id)) throw new TypeError(`region pack spot ${i} has a missing or repeated id`);
    if (!isFiniteFeature(s.feature, dimension)) throw new TypeError(`region pack spot ${s.id} has a bad feature`);
    if (!Number.isFinite(s.x) || !Number.isFinite(s.y)) throw new TypeError(`region pack spot ${s.id} has bad coordinates`);
    if (!Number.isFinite(s.popularity) || s.popularity <= 0) throw new TypeError(`region pack spot ${s.id} has bad popularity`);
    seen.add(s.id);
    payload.ids.push(s.id);
    payload.x[i] = s.x;
    payload.y[i] = s.y;
    payload.popularity[i] = s.popularity;
    payload.features.set(s.feature, i * dimension);
    // Decoys drawn from a cached pack must look like those drawn from a fresh one: keep the view models.
    payload.views!.push(s.view ? viewModelToBlob(s.view) : null);
    // Replies name candidates by id only: a cached pack must still say what each spot is.
    payload.infos!.push(s.info ? jsonOf(s.info, `region pack spot ${s.id} info`) : null);
  });
  return encode(payload);
}

function decodePackPayload(blob: Buffer): RegionSpot[] {
  const p = decode(blob) as PackPayload;
  const n = p?.ids?.length;
  if (
    p?.v !== 1 ||
    !Array.isArray(p.ids) ||
    !(p.features instanceof Float32Array) ||
    p.features.length !== n * p.dimension ||
    [p.x, p.y, p.popularity].some((col) => !(col instanceof Float64Array) || col.length !== n)
  ) {
    throw new Error('region pack payload has an unknown layout');
  }
  if (p.views !== undefined && (!Array.isArray(p.views) || p.views.length !== n)) throw new Error('region pack payload has an unknown layout');
  if (p.infos !== undefined && (!Array.isArray(p.infos) || p.infos.length !== n)) throw new Error('region pack payload has an unknown layout');
  const spots: RegionSpot[] = [];
  for (let i = 0; i < n; i++) {
    const blob = p.views?.[i];
    const info = p.infos?.[i];
    spots.push({
      id: p.ids[i],
      feature: p.features.slice(i * p.dimension, (i + 1) * p.dimension),
      x: p.x[i],
      y: p.y[i],
      popularity: p.popularity[i],
      ...(blob ? { view: blobToViewModel(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength), p.dimension) } : {}),
      ...(typeof info === 'string' ? { info: JSON.parse(info) as ServiceInfo } : {}),
    });
  }
  return spots;
}

const HABITS_KEY = 'wearer_habits';
/** More lengths than a WearerDwell keeps, or one longer than a day, is not something this build wrote. */
const MAX_HABIT_LENGTHS = 1_024;
const MAX_HABIT_MS = 86_400_000;

function parseHabits(value: string): WearerHabits | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  const lengths = (x: unknown): number[] | undefined =>
    Array.isArray(x) && x.length <= MAX_HABIT_LENGTHS && x.every((ms) => typeof ms === 'number' && ms > 0 && ms <= MAX_HABIT_MS) ? (x as number[]) : undefined;
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { visitsMs, walksMs } = parsed as Record<string, unknown>;
  const visits = lengths(visitsMs);
  const walks = lengths(walksMs);
  return visits && walks ? { visitsMs: visits, walksMs: walks } : undefined;
}
