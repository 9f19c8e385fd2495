import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import type { ModelManifest } from './types.js';

/** A manifest that passed validation, with the absolute paths of itself and of its model file. */
export interface LoadedManifest extends ModelManifest {
  manifestPath: string;
  modelPath: string;
}

const FIX = 'fix the manifest, or rebuild it with `/usr/bin/python3 scripts/build-model.py`';

/**
 * Reads and validates a model manifest. Every problem is a UserError naming the file and the field, so a
 * typo in a hand-written manifest for a user's own model is a one-line fix rather than an ONNX Runtime
 * error at first inference.
 */
export async function loadManifest(path: string): Promise<LoadedManifest> {
  const manifestPath = resolve(path);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `Model manifest ${manifestPath} does not exist; check the model path in the configuration, or build the default model with \`/usr/bin/python3 scripts/build-model.py\`.`
        : `Model manifest ${manifestPath} cannot be read (${code ?? String(err)}); check its permissions.`,
      { cause: err },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`Model manifest ${manifestPath} is not valid JSON (${(err as Error).message}); ${FIX}.`, {
      cause: err,
    });
  }
  const problems = validate(raw);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new UserError(`Model manifest ${manifestPath}: ${problems[0]}${more}; ${FIX}.`);
  }
  const manifest = raw as ModelManifest;
  return { ...manifest, manifestPath, modelPath: resolve(dirname(manifestPath), manifest.file) };
}

/**
 * The match threshold for a manifest that names none (a user's own model): the value the hand-designed
 * enfpire-gist-int8-v1 was run with. It is a starting point, not a calibration; `enfpire eval --threshold` finds one.
 */
export const UNCALIBRATED_MATCH_THRESHOLD = 0.5;

/** The least cosine to a spot's reference at which the device names it: the profile's, else the model's own. */
export function matchThreshold(manifest: Pick<ModelManifest, 'output'>, configured?: number): number {
  return configured ?? manifest.output.threshold ?? UNCALIBRATED_MATCH_THRESHOLD;
}

/**
 * The region gate's cosine: the profile's privacy.minSpotCosine, else the one set from the model's background views
 * for this region pack (`fromBackground`, edge/region-gate.ts), else the manifest's output.spotCosine, else the match
 * threshold.
 */
export function regionGateCosine(manifest: Pick<ModelManifest, 'output'>, configured: number | undefined, threshold: number, fromBackground?: number): number {
  return configured ?? fromBackground ?? manifest.output.spotCosine ?? threshold;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Returns one message per problem ("field: what is wrong"), in field order. */
function validate(raw: unknown): string[] {
  if (!isObj(raw)) return [`the top level must be a JSON object, got ${show(raw)}`];
  const problems: string[] = [];
  const need = (ok: boolean, field: string, what: string, got: unknown): void => {
    if (!ok) problems.push(`field "${field}" must be ${what}, got ${show(got)}`);
  };

  need(isNonEmptyString(raw.id) && /^[A-Za-z0-9._-]+$/.test(raw.id), 'id', 'a model id of letters, digits, ".", "_" or "-"', raw.id);
  need(isNonEmptyString(raw.file) && !isAbsolute(raw.file), 'file', 'the ONNX file name relative to the manifest', raw.file);
  need(typeof raw.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(raw.sha256), 'sha256', 'the 64-hex-digit sha256 of the ONNX file', raw.sha256);

  const input = raw.input;
  if (!isObj(input)) {
    need(false, 'input', 'an object with name, shape, layout, mean and std', input);
  } else {
    need(isNonEmptyString(input.name), 'input.name', "the name of the model's input", input.name);
    const layout = input.layout;
    need(layout === 'NCHW' || layout === 'NHWC', 'input.layout', '"NCHW" or "NHWC"', layout);
    const shape = input.shape;
    const shapeOk = Array.isArray(shape) && shape.length === 4 && shape.every(isPositiveInt) && shape[0] === 1;
    need(shapeOk, 'input.shape', 'four positive integers with batch 1, e.g. [1, 3, 128, 128]', shape);
    if (shapeOk && (layout === 'NCHW' || layout === 'NHWC')) {
      const channels = layout === 'NCHW' ? shape[1] : shape[3];
      need(channels === 3, 'input.shape', `3 colour channels at position ${layout === 'NCHW' ? 1 : 3} for layout ${layout}`, shape);
    }
    for (const key of ['mean', 'std'] as const) {
      const v = input[key];
      const ok =
        Array.isArray(v) &&
        v.length === 3 &&
        v.every((x) => typeof x === 'number' && Number.isFinite(x) && (key === 'mean' || x > 0));
      need(ok, `input.${key}`, `three ${key === 'std' ? 'positive ' : ''}numbers (R, G, B on the pixel/255 scale)`, v);
    }
    if (input.resize !== undefined) {
      need(input.resize === 'fill' || input.resize === 'cover', 'input.resize', '"fill" or "cover" when given', input.resize);
    }
  }

  const output = raw.output;
  if (!isObj(output)) {
    need(false, 'output', 'an object with name and dimension', output);
  } else {
    need(isNonEmptyString(output.name), 'output.name', "the name of the model's feature output", output.name);
    need(isPositiveInt(output.dimension), 'output.dimension', 'the feature length, a positive integer', output.dimension);
    if (output.centre !== undefined) {
      const c = output.centre;
      const ok = Array.isArray(c) && c.length === output.dimension && c.every((x) => typeof x === 'number' && Number.isFinite(x));
      need(ok, 'output.centre', 'an array of output.dimension finite numbers (the mean feature subtracted before normalising)', Array.isArray(c) ? `${c.length} values` : c);
    }
    for (const key of ['threshold', 'spotCosine'] as const) {
      const v = output[key];
      if (v !== undefined) need(typeof v === 'number' && v > -1 && v < 1, `output.${key}`, 'a cosine between -1 and 1 (exclusive) when given', v);
    }
    if (output.background !== undefined) {
      const b = output.background;
      need(isNonEmptyString(b) && !isAbsolute(b), 'output.background', 'the background views file name relative to the manifest when given', b);
    }
  }
  for (const key of ['card', 'licence'] as const) {
    if (raw[key] !== undefined) need(typeof raw[key] === 'string', key, 'a string when given', raw[key]);
  }
  const variation = raw.viewVariation;
  if (variation !== undefined) {
    const sigma = isObj(variation) ? variation.sigma : undefined;
    need(
      typeof sigma === 'number' && Number.isFinite(sigma) && sigma > 0 && sigma < 10,
      'viewVariation.sigma',
      'a positive number (the spread of camera views around their reference, measured by the model build)',
      sigma,
    );
    const bounds = isObj(variation) ? variation.bounds : undefined;
    if (bounds !== undefined) {
      for (const key of ['meanNorm', 'scale', 'residual'] as const) {
        const v = isObj(bounds) ? bounds[key] : undefined;
        need(typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 4, `viewVariation.bounds.${key}`, 'a positive number up to 4', v);
      }
    }
  }
  return problems;
}
