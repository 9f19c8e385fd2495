import { readdir, readFile } from 'node:fs/promises';
import { extname, join, basename } from 'node:path';
import { UserError } from './errors.js';

/**
 * A folder of spot photos (DESIGN §9), shared by `enroll` and `eval`: either one image per spot
 * (`DIR/<spot>.jpg`) or one sub-folder per spot (`DIR/<spot>/*.jpg`), plus an optional `DIR/spots.json`.
 */

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];
export const METADATA_FILE = 'spots.json';

const LAYOUT_HINT =
  'expected one image per spot (DIR/<spot>.jpg|jpeg|png|webp) or one sub-folder of images per spot (DIR/<spot>/*.jpg)';

export interface SpotPhotos {
  /** File stem or sub-folder name. */
  id: string;
  /** Absolute or dir-relative paths as given by `dir`, sorted. */
  files: string[];
}

/** Optional per-spot metadata from `spots.json`; everything not named here is extra service information. */
export interface SpotMetadata {
  name?: string;
  description?: string;
  url?: string;
  region?: string;
  /** Planar coordinates in metres inside the region; both or neither. */
  x?: number;
  y?: number;
  /** Relative popularity, > 0. */
  popularity?: number;
  /** Other keys, passed through to the spot's service information. */
  extra: Record<string, unknown>;
}

export function isImageFile(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Code-point order: the same on every machine and locale, so enrolment and evaluation are reproducible. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function listDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a folder' : 'cannot be read';
    throw new UserError(`The spot folder ${dir} ${what}; ${LAYOUT_HINT}.`, { cause: err });
  }
}

/**
 * Lists the spots of a photo folder, sorted by id, each with its images sorted by name. Both layouts may be mixed;
 * hidden entries, non-images and `spots.json` are ignored.
 */
export async function listSpotPhotos(dir: string): Promise<SpotPhotos[]> {
  const entries = await listDir(dir);
  const spots = new Map<string, SpotPhotos>();
  const add = (spot: SpotPhotos, source: string): void => {
    if (spots.has(spot.id)) {
      throw new UserError(`Spot '${spot.id}' appears twice in ${dir} (again as ${source}); rename one of them.`);
    }
    spots.set(spot.id, spot);
  };

  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const files = (await listDir(path))
        .filter((e) => e.isFile() && isImageFile(e.name))
        .map((e) => e.name)
        .sort(byCodePoint)
        .map((name) => join(path, name));
      if (files.length === 0) {
        throw new UserError(`The spot folder ${path} holds no images; add .jpg, .png or .webp photos or remove it.`);
      }
      add({ id: entry.name, files }, path);
    } else if (entry.isFile() && isImageFile(entry.name)) {
      add({ id: basename(entry.name, extname(entry.name)), files: [path] }, path);
    }
  }

  if (spots.size === 0) throw new UserError(`The spot folder ${dir} holds no spot photos; ${LAYOUT_HINT}.`);
  return [...spots.values()].sort((a, b) => byCodePoint(a.id, b.id));
}

/** Reads `DIR/spots.json` when present (an object keyed by spot id); no file means no metadata. */
export async function loadSpotMetadata(dir: string): Promise<Map<string, SpotMetadata>> {
  const file = join(dir, METADATA_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new UserError(`Cannot read ${file}: ${(err as Error).message}.`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file} is not valid JSON (${(err as Error).message}); fix the syntax.`, { cause: err });
  }
  if (!isPlainObject(parsed)) {
    throw new UserError(`${file} must be a JSON object keyed by spot id, e.g. {"tower": {"name": "Clock tower"}}.`);
  }
  const out = new Map<string, SpotMetadata>();
  for (const [id, value] of Object.entries(parsed)) out.set(id, parseEntry(file, id, value));
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseEntry(file: string, id: string, value: unknown): SpotMetadata {
  const field = (key: string): string => `${file}: "${id}".${key}`;
  if (!isPlainObject(value)) throw new UserError(`${file}: "${id}" must be an object of spot fields, e.g. {"name": "…"}.`);
  const { name, description, url, region, x, y, popularity, ...extra } = value;

  const str = (key: string, v: unknown): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') throw new UserError(`${field(key)} must be a non-empty string.`);
    return v;
  };
  const num = (key: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${field(key)} must be a number (metres).`);
    return v;
  };

  const meta: SpotMetadata = {
    name: str('name', name),
    description: str('description', description),
    url: str('url', url),
    region: str('region', region),
    x: num('x', x),
    y: num('y', y),
    extra,
  };
  if (meta.region === '*') throw new UserError(`${field('region')} may not be '*' (it means every region); pick a name.`);
  if ((meta.x === undefined) !== (meta.y === undefined)) {
    throw new UserError(`${file}: "${id}" gives only one of x and y; give both coordinates or neither.`);
  }
  if (popularity !== undefined) {
    if (typeof popularity !== 'number' || !Number.isFinite(popularity) || popularity <= 0) {
      throw new UserError(`${field('popularity')} must be a number greater than 0.`);
    }
    meta.popularity = popularity;
  }
  for (const key of Object.keys(meta) as (keyof SpotMetadata)[]) if (meta[key] === undefined) delete meta[key];
  return meta;
}
