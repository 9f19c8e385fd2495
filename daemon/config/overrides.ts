/**
 * Settings given on the command line as `path=value` (`enfpire eval --set resolver.windowSize=1`), so a tool can run
 * the daemon with any profile setting changed without a flag of its own for each. The result is a partial profile;
 * the loader still checks it against the schema like any profile, so ranges and types are enforced there.
 */
import { UserError } from '../util/errors.js';
import { configSchema, type ConfigKind } from './load.js';
import { nearest, type SchemaNode } from './problems.js';

/** A partial profile, nested as in the YAML file. */
export type Settings = Record<string, unknown>;

/**
 * Parses `a.b.c=value` entries into one nested partial profile. A value is read as JSON when it parses (numbers,
 * booleans, null, arrays, objects), else as a string. An unknown setting is refused with the nearest known name.
 */
export function parseSettingOverrides(command: string, kind: ConfigKind, entries: readonly string[]): Settings {
  const out: Settings = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UserError(`${command}: --set takes path=value, e.g. --set resolver.windowSize=1 (got '${entry}').`);
    const path = entry.slice(0, eq).trim().split('.');
    checkPath(command, kind, path);
    let node = out;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node = isSettings(next) ? next : (node[key] = {});
    }
    node[path[path.length - 1]] = readValue(entry.slice(eq + 1));
  }
  return out;
}

/** `base` with `over` laid on top, section by section (arrays and values of `over` replace those of `base`). */
export function mergeSettings(base: Settings, over: Settings): Settings {
  const out: Settings = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    out[key] = isSettings(below) && isSettings(value) ? mergeSettings(below, value) : value;
  }
  return out;
}

function readValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Walks the schema along `path`, through variants (any variant may own a setting), naming the first unknown key. */
function checkPath(command: string, kind: ConfigKind, path: string[]): void {
  let nodes: SchemaNode[] = [configSchema(kind)];
  for (const [i, key] of path.entries()) {
    const sections = nodes.flatMap((n) => (n.oneOf ? n.oneOf : [n]));
    const next = sections.flatMap((n) => (n.properties?.[key] ? [n.properties[key]] : []));
    if (next.length === 0) {
      const known = [...new Set(sections.flatMap((n) => Object.keys(n.properties ?? {})))];
      const near = nearest(key, known);
      const where = path.slice(0, i).join('.') || 'the top level';
      throw new UserError(
        `${command}: --set ${path.join('.')}: ${where} of the ${kind} profile has no setting '${key}'` +
          (near ? `; did you mean '${near}'?` : `; known: ${known.join(', ')}.`),
      );
    }
    nodes = next;
  }
}

function isSettings(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
