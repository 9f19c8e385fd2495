import type { ErrorObject } from 'ajv';
import type { Problem } from './types.js';

/** The subset of JSON Schema our config schemas use, as far as the translation needs it. */
export interface SchemaNode {
  description?: string;
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  examples?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  items?: SchemaNode;
  if?: SchemaNode;
  const?: unknown;
  /** Variants of a section (privacy.transform), told apart by the discriminator's property. */
  oneOf?: SchemaNode[];
  discriminator?: { propertyName: string };
  title?: string;
}

/** 'privacy.transform.k: must be ≤ 16 — set k between 1 and 16' */
export function formatProblem(problem: Problem): string {
  return `${problem.path ? `${problem.path}: ` : ''}${problem.message} — ${problem.fix}`;
}

/** 'privacy.k is now privacy.transform.k; the profile was read the old way — move it to keep it working' */
export function formatWarning(warning: Problem): string {
  return `${warning.path ? `${warning.path} ` : ''}${warning.message} — ${warning.fix}`;
}

/**
 * Turns ajv's errors (run with allErrors and verbose) into one human problem per wrong setting: the dotted
 * path, what is wrong, and a fix drawn from the schema itself (ranges, allowed values, examples, the
 * nearest known key for a typo).
 */
export function problemsFromAjv(errors: ErrorObject[], root: SchemaNode): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const problem = translate(error, root);
    if (!problem) continue;
    const key = `${problem.path}\n${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

function translate(error: ErrorObject, root: SchemaNode): Problem | null {
  const segments = pointerSegments(error.instancePath);
  const path = dotted(segments);
  const leaf = segments.length > 0 ? segments[segments.length - 1] : 'it';
  const node = (error.parentSchema ?? {}) as SchemaNode;
  const params = error.params as Record<string, unknown>;

  switch (error.keyword) {
    case 'if':
      return null; // the 'then' branch reports the real problem
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const variants = schemaAt(root, segments)?.oneOf;
      // Inside a variant (a kind of privacy.transform) the error's own schema is the variant that was chosen.
      return variants ? unknownVariantKey(segments, key, node, variants) : unknownKey(segments, key, schemaAt(root, segments));
    }
    case 'discriminator': {
      const tag = String(params.tag);
      const kinds = (node.oneOf ?? []).map((variant) => variant.properties?.[tag]?.const).filter((kind) => kind !== undefined);
      const value = (error.data as Record<string, unknown> | undefined)?.[tag];
      const suggestion = typeof value === 'string' ? nearest(value, kinds.map(String)) : null;
      return {
        path: dotted([...segments, tag]),
        message: value === undefined ? 'missing (required)' : `${show(value)} is not allowed`,
        fix: `${suggestion ? `did you mean '${suggestion}'? ` : ''}${value === undefined ? 'add it: ' : ''}use one of ${kinds.map(show).join(', ')}`,
      };
    }
    case 'required': {
      const missing = String(params.missingProperty);
      const container = schemaAt(root, segments);
      const condition = error.schemaPath.includes('/then/') ? describeCondition(container?.if, segments) : '';
      return {
        path: dotted([...segments, missing]),
        message: condition ? `missing (required when ${condition})` : 'missing (required)',
        fix: `add ${howToWrite(missing, container?.properties?.[missing])}`,
      };
    }
    case 'dependencies': {
      const missing = String(params.missingProperty);
      return {
        path: dotted([...segments, missing]),
        message: `missing (required when ${String(params.property)} is set)`,
        fix: `set ${missing} too, or remove ${String(params.property)}`,
      };
    }
    case 'type':
      return {
        path,
        message: `must be ${typeName(String(params.type))} (got ${show(error.data)})`,
        fix:
          params.type === 'object'
            ? `indent the settings of ${leaf} under it`
            : `write ${typeName(String(params.type))}, for example ${howToWrite(leaf, node)}`,
      };
    case 'enum': {
      const allowed = (node.enum ?? []).map(show);
      const suggestion = typeof error.data === 'string' ? nearest(error.data, (node.enum ?? []).map(String)) : null;
      return {
        path,
        message: `${show(error.data)} is not allowed`,
        fix: `${suggestion ? `did you mean '${suggestion}'? ` : ''}use one of ${allowed.join(', ')}`,
      };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const symbol = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[error.keyword];
      return { path, message: `must be ${symbol} ${String(params.limit)} (got ${show(error.data)})`, fix: rangeFix(leaf, node) };
    }
    case 'pattern':
      return { path, message: `${show(error.data)} is not in the expected form`, fix: `write it like ${examplesOf(node)}` };
    case 'format':
      return {
        path,
        message: `${show(error.data)} is not a valid file reference`,
        fix: "give a file path, or 'credential:NAME' where NAME is a systemd credential (letters, digits, '.', '_', '-')",
      };
    case 'minLength':
      return { path, message: 'must not be empty', fix: `give a value, for example ${howToWrite(leaf, node)}` };
    case 'minItems':
      return { path, message: `must list at least ${String(params.limit)} item(s)`, fix: `list for example ${examplesOf(node)}` };
    case 'uniqueItems':
      return { path, message: 'lists the same item twice', fix: 'remove the duplicate' };
    default:
      return { path, message: error.message ?? 'is not valid', fix: node.description ?? 'see the schema' };
  }
}

function unknownKey(segments: string[], key: string, container: SchemaNode | null): Problem {
  const known = Object.keys(container?.properties ?? {});
  const path = dotted([...segments, key]);
  if (known.includes(`${key}File`)) {
    return {
      path,
      message: 'secrets are not allowed in the configuration file',
      fix: `put the ${key} in a file only the daemon can read and set ${dotted([...segments, `${key}File`])} to its path (or to 'credential:NAME' for a systemd credential)`,
    };
  }
  const suggestion = nearest(key, known);
  return {
    path,
    message: 'unknown setting',
    fix: suggestion ? `did you mean '${suggestion}'?` : `remove it; the settings here are ${known.join(', ')}`,
  };
}

/** A setting the chosen variant lacks: the variants it belongs to, if any, say what to do. */
function unknownVariantKey(segments: string[], key: string, variant: SchemaNode, variants: SchemaNode[]): Problem {
  const tag = Object.keys(variant.properties ?? {}).find((name) => variant.properties?.[name].const !== undefined);
  const kindOf = (node: SchemaNode) => (tag ? node.properties?.[tag]?.const : undefined);
  const owners = variants.filter((other) => other !== variant && other.properties?.[key]).map((other) => show(kindOf(other)));
  if (!tag || owners.length === 0) return unknownKey(segments, key, variant);
  return {
    path: dotted([...segments, key]),
    message: `is not a setting of the ${show(kindOf(variant))} ${segments.at(-1) ?? 'variant'}: only ${owners.join(' and ')} ${owners.length === 1 ? 'reads' : 'read'} it`,
    fix: `remove it, or make ${dotted([...segments, tag])} ${owners.join(' or ')}`,
  };
}

/** The schema node describing the object at `segments` (array items included), or null. */
export function schemaAt(root: SchemaNode, segments: string[]): SchemaNode | null {
  let node: SchemaNode | undefined = root;
  for (const segment of segments) {
    if (!node) return null;
    node = /^\d+$/.test(segment) && node.items ? node.items : node.properties?.[segment];
  }
  return node ?? null;
}

function describeCondition(condition: SchemaNode | undefined, segments: string[]): string {
  const parts = Object.entries(condition?.properties ?? {})
    .filter(([, sub]) => sub.const !== undefined)
    .map(([key, sub]) => `${dotted([...segments, key])} is ${show(sub.const)}`);
  return parts.join(' and ');
}

/** "url: 'mqtts://…'" from the schema's example or default or, for a section, its required settings. */
function howToWrite(key: string, node: SchemaNode | undefined): string {
  if (!node) return key;
  if (node.properties && node.required?.length) {
    const inner = node.required.map((name) => howToWrite(name, node.properties?.[name])).join(', ');
    return `a ${key} section with ${inner}`;
  }
  const example = node.examples?.[0] ?? node.default;
  return example === undefined ? `${key} (${typeName(node.type ?? 'value')})` : `${key}: ${show(example)}`;
}

function examplesOf(node: SchemaNode): string {
  const examples = node.examples ?? (node.default === undefined ? [] : [node.default]);
  return examples.length ? examples.map(show).join(' or ') : (node.description ?? 'the schema describes');
}

function rangeFix(leaf: string, node: SchemaNode): string {
  const low =
    node.minimum !== undefined ? { value: node.minimum, strict: false }
    : node.exclusiveMinimum !== undefined ? { value: node.exclusiveMinimum, strict: true }
    : null;
  const high =
    node.maximum !== undefined ? { value: node.maximum, strict: false }
    : node.exclusiveMaximum !== undefined ? { value: node.exclusiveMaximum, strict: true }
    : null;
  if (low && high && !low.strict && !high.strict) return `set ${leaf} between ${low.value} and ${high.value}`;
  const lowText = low ? (low.strict ? `more than ${low.value}` : `at least ${low.value}`) : '';
  const highText = high ? (high.strict ? `less than ${high.value}` : `at most ${high.value}`) : '';
  return `set ${leaf} to ${[lowText, highText].filter(Boolean).join(' and ')}`;
}

function typeName(type: string): string {
  const names: Record<string, string> = {
    number: 'a number',
    integer: 'a whole number',
    string: 'text',
    boolean: 'true or false',
    object: 'a section of settings',
    array: 'a list',
  };
  return names[type] ?? type;
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value === 'object' ? 'a section' : typeof value;
}

function pointerSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** ['model', 'executionProviders', '1'] → 'model.executionProviders[1]' */
function dotted(segments: string[]): string {
  return segments.reduce((out, segment) => {
    if (/^\d+$/.test(segment)) return `${out}[${segment}]`;
    return out ? `${out}.${segment}` : segment;
  }, '');
}

/** The candidate closest to `word` (case-insensitive, transpositions count once), if it is close enough. */
export function nearest(word: string, candidates: string[]): string | null {
  const limit = Math.max(1, Math.round(word.length / 3));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= limit ? best : null;
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ('fsp' → 'fps' is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
