/**
 * A model's background views (manifest field output.background): features of pictures that are no spot, shipped
 * beside the model (scripts/fit-background.mjs). The device sets its region gate from them for whatever region pack
 * it holds (edge/region-gate.ts), since how close a picture of no spot comes to some spot grows with the region.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { normalize } from '../util/vector.js';
import type { LoadedManifest } from './manifest.js';

/** Base64 of the view's components as int8, scaled so the largest magnitude is 127: only its direction matters. */
export function encodeBackgroundView(feature: Float32Array): string {
  let max = 0;
  for (const x of feature) max = Math.max(max, Math.abs(x));
  const bytes = Int8Array.from(feature, (x) => (max > 0 ? Math.round((x / max) * 127) : 0));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function decodeBackgroundView(text: unknown, dimension: number): Float32Array | undefined {
  if (typeof text !== 'string') return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== dimension) return undefined;
  const view = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.every((x) => x === 0)) return undefined;
  return normalize(Float32Array.from(view));
}

const REFIT = 'run `node scripts/fit-background.mjs --manifest <the manifest>`, or remove output.background from the manifest';

/**
 * The model's background views as unit vectors, or undefined when its manifest names none. A file that is missing,
 * unreadable, fitted for another build of the model or of the wrong shape is a UserError naming it.
 */
export async function loadBackground(manifest: Pick<LoadedManifest, 'manifestPath' | 'sha256' | 'output'>): Promise<Float32Array[] | undefined> {
  const name = manifest.output.background;
  if (name === undefined) return undefined;
  const path = resolve(dirname(manifest.manifestPath), name);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code ? `cannot be read (${code})` : `is not valid JSON (${(err as Error).message})`;
    throw new UserError(`The model's background views ${path} ${what}; ${REFIT}.`, { cause: err });
  }
  const body = raw as { sha256?: unknown; views?: unknown };
  if (typeof raw !== 'object' || raw === null || body.sha256 !== manifest.sha256) {
    throw new UserError(`The model's background views ${path} were fitted for another build of the model (sha256 ${String(body?.sha256)}, the manifest says ${manifest.sha256}); ${REFIT}.`);
  }
  if (!Array.isArray(body.views) || body.views.length === 0) {
    throw new UserError(`The model's background views ${path} hold no "views" array; ${REFIT}.`);
  }
  const views: Float32Array[] = [];
  for (const [i, text] of body.views.entries()) {
    const view = decodeBackgroundView(text, manifest.output.dimension);
    if (!view) {
      throw new UserError(`The model's background views ${path}: view ${i} is not base64 of ${manifest.output.dimension} non-zero int8 components; ${REFIT}.`);
    }
    views.push(view);
  }
  return views;
}
