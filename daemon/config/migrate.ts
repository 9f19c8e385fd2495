/**
 * Profiles written before a setting moved still load: the loader rewrites them into the current shape before the
 * schema check, and says so with one warning per moved setting, naming where it lives now (docs/decisions.md,
 * "privacy.transform as variants"). A migration is history, so the old names are written out here; where a setting
 * may go is read from the schema.
 */
import { schemaAt, type SchemaNode } from './problems.js';
import type { Problem } from './types.js';

/** privacy.* settings that moved into privacy.transform when the transform became a section with a kind. */
export const MOVED_INTO_TRANSFORM = ['k', 'decoys', 'candidatesPerComponent', 'maxCandidates', 'realComponent', 'decoySigma', 'decoyDrift', 'noise'] as const;

const READ_THE_OLD_WAY = 'the profile was read the old way';

/**
 * Rewrites an edge profile of before the transform variants in place and returns the warnings: `privacy.transform:
 * kmix` becomes `privacy.transform: {kind: kmix}`, and each flat setting of the transform (privacy.k, …) moves into
 * it. A setting given both ways keeps the new one; a flat setting the profile's transform never read (privacy.noise
 * beside kmix) is dropped, as it was ignored before. A profile of the current shape comes back untouched.
 */
export function migrateEdgeProfile(data: Record<string, unknown>, schema: SchemaNode): Migration {
  const warnings: Problem[] = [];
  const moved = new Map<string, string>();
  const privacy = data.privacy;
  if (!isMapping(privacy)) return { warnings, moved };
  const transformNode = schemaAt(schema, ['privacy', 'transform']);

  if (typeof privacy.transform === 'string') {
    const kind = privacy.transform;
    privacy.transform = { kind };
    warnings.push({
      path: 'privacy.transform',
      message: `'${kind}' is now privacy.transform.kind; ${READ_THE_OLD_WAY}`,
      fix: `write transform as a section, 'transform: { kind: ${kind} }', to keep it working`,
    });
  }

  const flat = MOVED_INTO_TRANSFORM.filter((key) => key in privacy);
  if (flat.length === 0) return { warnings, moved };
  // Before the variants a profile without transform meant the default one, and its flat settings were that one's.
  privacy.transform ??= structuredClone(transformNode?.default ?? {});
  const transform = privacy.transform;
  // A transform of the wrong type: the schema check reports it, and the flat settings stay where they were.
  if (!isMapping(transform)) return { warnings, moved };

  const kind = transform.kind;
  const branch = transformNode?.oneOf?.find((variant) => variant.properties?.kind?.const === kind);
  for (const key of flat) {
    const value = privacy[key];
    delete privacy[key];
    const old = `privacy.${key}`;
    const now = `privacy.transform.${key}`;
    if (key in transform) {
      warnings.push({
        path: old,
        message: `is now ${now}, which the profile sets too: ${now} (${show(transform[key])}) is used and ${old} (${show(value)}) ignored`,
        fix: `remove ${old}`,
      });
    } else if (branch && !branch.properties?.[key]) {
      const readers = (transformNode?.oneOf ?? []).filter((variant) => variant.properties?.[key]).map((variant) => `'${String(variant.properties?.kind?.const)}'`);
      warnings.push({
        path: old,
        message: `is now ${now}, a setting of the ${readers.join(' and ')} transform only; this profile's transform is '${String(kind)}', which never read it, so it is dropped`,
        fix: `remove ${old}`,
      });
    } else {
      transform[key] = value;
      moved.set(now, old);
      warnings.push({ path: old, message: `is now ${now}; ${READ_THE_OLD_WAY}`, fix: 'move it to keep it working' });
    }
  }
  return { warnings, moved };
}

export interface Migration {
  /** One per setting read the old way: `path` is where the profile has it, the message names where it goes now. */
  warnings: Problem[];
  /** New path → the old path it was read from, for the settings that moved (a problem found there names both). */
  moved: Map<string, string>;
}

/** A problem found in a moved setting says where the profile wrote it: 'privacy.transform.k … (written as privacy.k)'. */
export function nameOldPlaces(problems: Problem[], moved: Map<string, string>): Problem[] {
  return problems.map((problem) => {
    for (const [now, old] of moved) {
      if (problem.path !== now && !problem.path.startsWith(`${now}.`)) continue;
      return { ...problem, message: `${problem.message} (written the old way, as ${old}${problem.path.slice(now.length)})` };
    }
    return problem;
  });
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (isMapping(value) || Array.isArray(value)) return 'a section';
  return String(value);
}
