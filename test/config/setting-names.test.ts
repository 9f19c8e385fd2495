/**
 * Every setting a message in daemon/ names exists in a profile schema (firmware-config/edge.schema.json or
 * recognizer.schema.json). An operator told to "set protocolVersion" looked for a setting no profile has (issue #13).
 *
 * A message is a string literal with a space in it (prose, not an import path or a key), `${…}` left out. It names a
 * setting as `section.key` (a schema's top-level section, then keys), or as "set X" where X is dotted, camelCase or
 * followed by a colon ("set format: yuv420").
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { configSchema } from '../../daemon/config/load.js';
import type { SchemaNode } from '../../daemon/config/problems.js';
import { packageRoot } from '../../daemon/util/paths.js';

/**
 * Every path of a schema: sections and leaves, e.g. 'camera', 'camera.roi', 'camera.roi.x'; a setting with variants
 * has the paths of every variant (privacy.transform.k, privacy.transform.noise, …).
 */
function schemaPaths(node: SchemaNode, prefix = ''): string[] {
  const variants = (node.oneOf ?? []).flatMap((variant) => schemaPaths(variant, prefix));
  return [
    ...Object.entries(node.properties ?? {}).flatMap(([key, sub]) => {
      const path = prefix ? `${prefix}.${key}` : key;
      return [path, ...schemaPaths(sub, path)];
    }),
    ...variants,
  ];
}

const paths = new Set([...schemaPaths(configSchema('edge')), ...schemaPaths(configSchema('recognizer'))]);
const sections = new Set([...paths].filter((p) => !p.includes('.')));
const keys = new Set([...paths].map((p) => p.split('.').at(-1)!));
/** Endings that make `word.word` a file name, not a setting (gallery.db, privacy.md). */
const FILE_ENDINGS = /^(js|ts|mjs|json|md|db|sock|py|html|yaml|yml|onnx|png|jpg|pem|key|org|com)$/;

/** String literals of TypeScript source, templates without their `${…}` parts. */
function literals(source: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '/' && source[i + 1] === '/') {
      i = source.indexOf('\n', i);
      if (i < 0) break;
    } else if (c === '/' && source[i + 1] === '*') {
      i = source.indexOf('*/', i + 2) + 1;
      if (i <= 0) break;
    } else if (c === "'" || c === '"' || c === '`') {
      let text = '';
      let j = i + 1;
      for (; j < source.length && source[j] !== c; j++) {
        if (source[j] === '\\') {
          text += source[++j];
        } else if (c === '`' && source[j] === '$' && source[j + 1] === '{') {
          // Skip the expression, nested braces included; a space stands for its value.
          let depth = 0;
          for (j++; j < source.length; j++) {
            if (source[j] === '{') depth++;
            else if (source[j] === '}' && --depth === 0) break;
          }
          text += ' ';
        } else if (c !== '`' && source[j] === '\n') {
          break;
        } else {
          text += source[j];
        }
      }
      out.push(text);
      i = j;
    }
  }
  return out;
}

/** The settings one message names. */
function namedSettings(message: string): string[] {
  if (!message.includes(' ')) return [];
  const named = new Set<string>();
  for (const m of message.matchAll(/(?<![\w./-])([a-z][A-Za-z0-9]*)((?:\.[A-Za-z][A-Za-z0-9]*)+)(?![\w/-])/g)) {
    const last = m[2].split('.').at(-1)!;
    if (sections.has(m[1]) && !FILE_ENDINGS.test(last)) named.add(m[1] + m[2]);
  }
  for (const m of message.matchAll(/\bset `?([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)`?(:?)/g)) {
    const [, name, colon] = m;
    if (name.includes('.') || /[a-z][A-Z]/.test(name) || colon) named.add(name);
  }
  return [...named];
}

/** A dotted name must be a path of a schema; a bare one a key of some section. */
function exists(name: string): boolean {
  return name.includes('.') ? paths.has(name) : keys.has(name);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

t.test('the checker finds settings in messages and knows a setting from a name no schema has', async (t) => {
  t.same(namedSettings('set protocolVersion to 4 for the compatibility mode'), ['protocolVersion']);
  t.same(namedSettings("camera.kind 'libcamera' needs camera.format 'yuv420'; set format: yuv420"), ['camera.kind', 'camera.format', 'format']);
  t.same(namedSettings('write it like unix:/run/enfpire/api.sock or see docs/privacy.md and gallery.db'), []);
  t.same(namedSettings('privacy.transform.realComponent'), [], 'a lone key is no message');
  t.same(namedSettings('the thermal governor set by hand'), [], 'plain English "set"');
  t.notOk(exists('protocolVersion'));
  t.notOk(exists('transport.protocolVersion'));
  t.ok(exists('transport.url') && exists('broker.url') && exists('format') && exists('camera.roi'));
  t.ok(exists('privacy.transform.k') && exists('privacy.transform.noise') && exists('privacy.transform.decoyDrift.slowShare'), 'the settings of every variant');
  t.notOk(exists('privacy.k'), 'a setting that moved is gone from its old place');
  t.same(literals("const a = 'x y'; // 'not this'\nconst b = `a ${f({ c: 'd' })} b`;"), ['x y', 'a   b']);
});

t.test('every setting a message in daemon/ names is in the edge or recognizer schema', async (t) => {
  const root = join(packageRoot, 'daemon');
  const missing: string[] = [];
  let checked = 0;
  for (const file of tsFiles(root)) {
    for (const message of literals(readFileSync(file, 'utf8'))) {
      for (const name of namedSettings(message)) {
        checked++;
        if (!exists(name)) missing.push(`${relative(packageRoot, file)}: ${name} in "${message.trim()}"`);
      }
    }
  }
  t.ok(checked >= 20, `messages in daemon/ name ${checked} settings`);
  t.same(missing, [], 'each names a real setting');
});
