import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { MAX_VIEW_DIRECTIONS, type ServiceInfo, type SpotViewModel } from '../domain/spot.js';
import { blobToViewModel, viewModelToBlob } from '../storage/view-model-blob.js';
import { UserError } from '../util/errors.js';
import { isFiniteFeature } from '../domain/feature.js';
import { blobToFeature, featureToBlob } from '../storage/feature-blob.js';
import { openDatabase, type Migration, type SqliteDatabase } from '../storage/sqlite.js';

/** One spot of the recognizer's gallery: everything a reply or a region pack says about it. */
export interface StoredSpot {
  id: string;
  /** Reference feature, unit length for the model in `meta().model`. */
  feature: Float32Array;
  /** Service information returned with every candidate; `name` is required. */
  info: ServiceInfo;
  region: string;
  /** Planar coordinates in metres inside the region. */
  x: number;
  y: number;
  /** Relative popularity, > 0. */
  popularity: number;
  /** The spot's view model, learned at enrolment; shipped in region packs. */
  view?: SpotViewModel;
}

export interface SpotStoreMeta {
  model: string;
  dimension: number;
  /** Content hash of model, dimension and every spot: equal versions mean equal galleries. */
  galleryVersion: string;
  /** ms since epoch. */
  createdAt: number;
}

export interface SpotStoreOpenOptions {
  /** The recognizer's model id; a gallery built for another model is refused. */
  model?: string;
  dimension?: number;
}

/** 'EnS1': marks a SQLite file as a recognizer gallery. */
const APPLICATION_ID = 0x456e5331;

const MIGRATIONS: readonly Migration[] = [
  (db) =>
    db.exec(`
      CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        model TEXT NOT NULL,
        dimension INTEGER NOT NULL,
        gallery_version TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE spots (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        info TEXT NOT NULL,
        region TEXT NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        popularity REAL NOT NULL,
        feature BLOB NOT NULL
      );
      CREATE INDEX spots_region ON spots (region);
    `),
  // 2: each spot's view model (how camera views deviate from the reference), quantised; NULL when none was learned.
  (db) => db.exec('ALTER TABLE spots ADD COLUMN view BLOB'),
];

interface SpotRow {
  id: string;
  name: string;
  info: string;
  region: string;
  x: number;
  y: number;
  popularity: number;
  feature: Buffer;
  view: Buffer | null;
}

interface MetaRow {
  model: string;
  dimension: number;
  gallery_version: string;
  created_at: number;
}

const ENROLL_HINT = 'build one with `enfpire enroll --spots DIR --out FILE`';

/**
 * The recognizer's gallery file. Built once by `enroll` and then only read, so it uses a rollback journal rather
 * than WAL: the file is always self-contained, which lets enroll build it under a temporary name and rename it.
 * The gallery version is recomputed lazily after writes (an empty version marks a changed gallery).
 */
export class SpotStore {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly db: SqliteDatabase,
  ) {}

  /** Creates a new, empty gallery; refuses to overwrite an existing file. */
  static create(path: string, options: { model: string; dimension: number; now?: number }): SpotStore {
    if (typeof options.model !== 'string' || options.model === '') throw new TypeError('model must be a non-empty string');
    if (!Number.isInteger(options.dimension) || options.dimension < 1) throw new RangeError('dimension must be a positive integer');
    if (existsSync(path)) throw new UserError(`The recognizer gallery ${path} already exists; remove it or choose another --out.`);
    const db = openStore(path, false);
    db.prepare('INSERT INTO meta (id, model, dimension, gallery_version, created_at) VALUES (1, ?, ?, ?, ?)').run(
      options.model,
      options.dimension,
      '',
      options.now ?? Date.now(),
    );
    return new SpotStore(path, db);
  }

  /** Opens an existing gallery, checking it was built for the expected model (and dimension) when given. */
  static open(path: string, options: SpotStoreOpenOptions = {}): SpotStore {
    const store = new SpotStore(path, openStore(path, true));
    try {
      const meta = store.readMeta();
      if (options.model !== undefined && meta.model !== options.model) {
        throw new UserError(
          `The recognizer gallery ${path} was built for model ${meta.model} but the recognizer runs ${options.model}; ` +
            `re-enroll the spots with ${options.model}.`,
        );
      }
      if (options.dimension !== undefined && meta.dimension !== options.dimension) {
        throw new UserError(
          `The recognizer gallery ${path} holds ${meta.dimension}-d features but the model gives ${options.dimension}-d; ` +
            're-enroll the spots with this model.',
        );
      }
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  /** Inserts or replaces one spot. */
  put(spot: StoredSpot): void {
    this.putAll([spot]);
  }

  /** Inserts or replaces spots in one transaction; nothing is written unless every spot is valid. */
  putAll(spots: readonly StoredSpot[]): void {
    this.assertOpen();
    const { dimension } = this.readMeta();
    const rows = spots.map((spot) => toRow(spot, dimension));
    const insert = this.db.prepare<SpotRow>(
      `INSERT OR REPLACE INTO spots (id, name, info, region, x, y, popularity, feature, view)
       VALUES (@id, @name, @info, @region, @x, @y, @popularity, @feature, @view)`,
    );
    this.db.transaction(() => {
      for (const row of rows) insert.run(row);
      this.db.prepare("UPDATE meta SET gallery_version = ''").run();
    })();
  }

  /** Every spot, ordered by id. */
  all(): StoredSpot[] {
    this.assertOpen();
    const rows = this.db.prepare<[], SpotRow>('SELECT * FROM spots ORDER BY id').all();
    const { dimension } = this.readMeta();
    return rows.map((row) => ({
      ...(row.view ? { view: blobToViewModel(row.view, dimension) } : {}),
      id: row.id,
      feature: blobToFeature(row.feature),
      info: { name: row.name, ...(JSON.parse(row.info) as Record<string, unknown>) },
      region: row.region,
      x: row.x,
      y: row.y,
      popularity: row.popularity,
    }));
  }

  get size(): number {
    this.assertOpen();
    return Number(this.db.prepare('SELECT COUNT(*) FROM spots').pluck().get());
  }

  meta(): SpotStoreMeta {
    this.assertOpen();
    let meta = this.readMeta();
    if (meta.galleryVersion === '') {
      const galleryVersion = this.computeVersion(meta);
      this.db.prepare('UPDATE meta SET gallery_version = ?').run(galleryVersion);
      meta = { ...meta, galleryVersion };
    }
    return meta;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`recognizer gallery ${this.path} is closed`);
  }

  private readMeta(): SpotStoreMeta {
    const row = this.db.prepare<[], MetaRow>('SELECT model, dimension, gallery_version, created_at FROM meta WHERE id = 1').get();
    // No meta row: a gallery whose creation was cut short.
    if (!row) throw new UserError(`${this.path} is not a complete recognizer gallery; ${ENROLL_HINT}.`);
    return { model: row.model, dimension: row.dimension, galleryVersion: row.gallery_version, createdAt: row.created_at };
  }

  private computeVersion(meta: SpotStoreMeta): string {
    const hash = createHash('sha256');
    hash.update(canonicalJson([meta.model, meta.dimension]));
    for (const row of this.db.prepare<[], SpotRow>('SELECT * FROM spots ORDER BY id').iterate()) {
      const info = canonicalJson(JSON.parse(row.info));
      hash.update(`\n${canonicalJson([row.id, row.name, info, row.region, row.x, row.y, row.popularity])}\n`);
      hash.update(row.feature);
      if (row.view) hash.update(row.view);
    }
    return hash.digest('hex').slice(0, 16);
  }
}

function openStore(path: string, mustExist: boolean): SqliteDatabase {
  return openDatabase(path, {
    what: 'recognizer gallery',
    applicationId: APPLICATION_ID,
    migrations: MIGRATIONS,
    journal: 'delete',
    mustExist,
    missingHint: ENROLL_HINT,
  });
}

function toRow(spot: StoredSpot, dimension: number): SpotRow {
  const id = spot?.id;
  if (typeof id !== 'string' || id === '') throw new TypeError('spot id must be a non-empty string');
  if (!isFiniteFeature(spot.feature, dimension)) throw new TypeError(`spot ${id}: feature must be ${dimension} finite float32 values`);
  const { name, ...rest } = spot.info ?? {};
  if (typeof name !== 'string' || name === '') throw new TypeError(`spot ${id}: info.name must be a non-empty string`);
  if (typeof spot.region !== 'string' || spot.region === '' || spot.region === '*') {
    throw new TypeError(`spot ${id}: region must be a non-empty string other than '*'`);
  }
  if (!Number.isFinite(spot.x) || !Number.isFinite(spot.y)) throw new TypeError(`spot ${id}: x and y must be finite`);
  if (!Number.isFinite(spot.popularity) || spot.popularity <= 0) throw new TypeError(`spot ${id}: popularity must be > 0`);
  return {
    id,
    name,
    info: JSON.stringify(rest),
    region: spot.region,
    x: spot.x,
    y: spot.y,
    popularity: spot.popularity,
    feature: featureToBlob(spot.feature),
    view: spot.view ? viewBlob(spot.view, id, dimension) : null,
  };
}

function viewBlob(view: SpotViewModel, id: string, dimension: number): Buffer {
  const { mean, directions, scales, residual } = view;
  const ok =
    isFiniteFeature(mean, dimension) &&
    Array.isArray(directions) &&
    directions.length <= MAX_VIEW_DIRECTIONS &&
    directions.every((d) => isFiniteFeature(d, dimension)) &&
    Array.isArray(scales) &&
    scales.length === directions.length &&
    scales.every((x) => Number.isFinite(x) && x >= 0) &&
    Number.isFinite(residual) &&
    residual >= 0;
  if (!ok) throw new TypeError(`spot ${id}: view model must hold ${dimension}-d finite vectors, ≤ ${MAX_VIEW_DIRECTIONS} directions and finite scales ≥ 0`);
  return viewModelToBlob(view);
}

/** JSON with object keys sorted at every level, so a hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
