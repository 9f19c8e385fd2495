/**
 * Enrolling a benchmark of a thousand spots renders a dozen camera views of each for its view model, and the
 * adversary renders its own views too: some twenty minutes on two cores, the same every time for the same photos,
 * model and seed. The evaluation keeps both in a cache folder, keyed by everything they depend on, so a sweep, a
 * wall-clock run and a rerun enrol once. A changed photo, model or seed is a new key; nothing is ever reused stale.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { SpotPhotos } from '../util/spots-dir.js';

export function defaultEvalCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'enfpire', 'eval');
}

/**
 * What of a model manifest shapes the features enrolment stores: the id (written into the gallery), the model file's
 * digest, the input and the output's name, dimension and centre. Its threshold, region-gate settings or card do not,
 * and changing them keeps the cache (a changed gate setting used to cost a 30-minute enrolment at 1,077 spots).
 * A manifest that is not JSON is hashed whole.
 */
function featureShaping(manifest: string): string {
  try {
    const m = JSON.parse(manifest) as { id?: unknown; sha256?: unknown; input?: unknown; output?: { name?: unknown; dimension?: unknown; centre?: unknown } };
    return JSON.stringify({ id: m.id, sha256: m.sha256, input: m.input, output: { name: m.output?.name, dimension: m.output?.dimension, centre: m.output?.centre } });
  } catch {
    return manifest;
  }
}

/** A key for everything an enrolled gallery and the adversary's views depend on. */
export async function enrolKey(input: { spots: readonly SpotPhotos[]; modelManifest: string; seed: number; adversaryViews: number; extra?: unknown }): Promise<string> {
  const hash = createHash('sha256');
  hash.update(featureShaping(await readFile(input.modelManifest, 'utf8')));
  hash.update(JSON.stringify({ seed: input.seed, adversaryViews: input.adversaryViews, extra: input.extra ?? null, version: CACHE_VERSION }));
  for (const spot of input.spots) {
    for (const file of spot.files) {
      const s = await stat(file);
      hash.update(`${spot.id}\0${file}\0${s.size}\0${s.mtimeMs}\n`);
    }
  }
  return hash.digest('hex').slice(0, 32);
}

/** Bumped whenever what is cached changes shape or meaning. */
const CACHE_VERSION = 2;

export class EnrolCache {
  constructor(
    private readonly dir: string,
    private readonly key: string,
  ) {}

  private path(name: string): string {
    return join(this.dir, `${this.key}.${name}`);
  }

  /** Copies the cached gallery to `galleryPath`; false when there is none. */
  async restoreGallery(galleryPath: string): Promise<boolean> {
    try {
      await copyFile(this.path('gallery.db'), galleryPath);
      return true;
    } catch {
      return false;
    }
  }

  async saveGallery(galleryPath: string): Promise<void> {
    await this.atomically('gallery.db', (tmp) => copyFile(galleryPath, tmp));
  }

  /** The adversary's own views, or undefined when not cached. */
  async loadViews(): Promise<Map<string, Float32Array[]> | undefined> {
    let text: string;
    try {
      text = await readFile(this.path('views.json'), 'utf8');
    } catch {
      return undefined;
    }
    const parsed = JSON.parse(text) as Record<string, number[][]>;
    return new Map(Object.entries(parsed).map(([id, views]) => [id, views.map((v) => Float32Array.from(v))]));
  }

  async saveViews(views: ReadonlyMap<string, readonly Float32Array[]>): Promise<void> {
    const plain = Object.fromEntries([...views].map(([id, vs]) => [id, vs.map((v) => Array.from(v))]));
    await this.atomically('views.json', (tmp) => writeFile(tmp, JSON.stringify(plain)));
  }

  private async atomically(name: string, write: (tmp: string) => Promise<void>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = `${this.path(name)}.${process.pid}.tmp`;
    await write(tmp);
    await rename(tmp, this.path(name));
  }
}
