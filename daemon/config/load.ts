/**
 * Loads and checks the YAML configuration of the edge daemon and of the recognizer against the JSON
 * schemas in firmware-config/ (the single source of truth: defaults, ranges and descriptions live there).
 *
 * Path rules: every relative path in a configuration file (camera.dir, model.manifest, gallery.path, the
 * *File settings, …) is resolved against the folder of that file, not the working directory, so a profile
 * means the same thing wherever the daemon is started from. Defaults that are paths follow the same rule.
 *
 * Secrets are never written in the file: usernameFile/passwordFile name a file (or 'credential:NAME', a
 * systemd credential in $CREDENTIALS_DIRECTORY) whose trimmed content the loader puts into
 * username/password. caFile/certFile/keyFile accept the same forms and are checked to be readable.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { parseListenAddress } from '../util/listen-address.js';
import { UserError } from '../util/errors.js';
import { migrateEdgeProfile, nameOldPlaces } from './migrate.js';
import { formatProblem, problemsFromAjv, type SchemaNode } from './problems.js';
import { checkReadable, readSecret, resolveFileReference } from './secrets.js';
import type { EdgeConfig, Problem, RecognizerConfig } from './types.js';

export type ConfigKind = 'edge' | 'recognizer';

export interface LoadOptions {
  /** Environment for 'credential:NAME' lookups ($CREDENTIALS_DIRECTORY); default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * Told of each setting of an older profile that was read the old way (migrate.ts), e.g. privacy.k now
   * privacy.transform.k; formatWarning() makes it a sentence. The profile loads all the same. Default: not told.
   */
  onWarning?: (warning: Problem) => void;
}

/** firmware-config/ sits two levels above this file both in daemon/config (sources) and dist/config (build). */
const SCHEMA_DIR = fileURLToPath(new URL('../../firmware-config/', import.meta.url));

/** The JSON schema of a configuration kind (read once). */
export function configSchema(kind: ConfigKind): SchemaNode {
  return compiled(kind).schema;
}

/**
 * The schema's default for a setting, e.g. schemaDefault('edge', 'privacy.transform.k'): tools share the daemon's
 * defaults. In a setting with variants the path goes on in the default's variant (privacy.transform: kmix's k), or
 * in the one `variant` names (schemaDefault('edge', 'privacy.transform.noise', 'noise')).
 */
export function schemaDefault(kind: ConfigKind, path: string, variant?: string): unknown {
  let node: SchemaNode | undefined = configSchema(kind);
  for (const key of path.split('.')) node = settingIn(node, key, variant);
  if (node?.default === undefined) throw new Error(`the ${kind} schema has no default for ${path}`);
  return node.default;
}

/** The setting `key` of a section, looked up in its variant (the named one, else the default's) if it has variants. */
function settingIn(node: SchemaNode | undefined, key: string, variant?: string): SchemaNode | undefined {
  if (!node?.oneOf) return node?.properties?.[key];
  return variantOf(node, variant ?? (node.default as Record<string, unknown> | undefined)?.[discriminatorOf(node)])?.properties?.[key];
}

function discriminatorOf(node: SchemaNode): string {
  return node.discriminator?.propertyName ?? 'kind';
}

/** The branch of a setting with variants whose discriminator is `value`. */
function variantOf(node: SchemaNode, value: unknown): SchemaNode | undefined {
  const tag = discriminatorOf(node);
  return node.oneOf?.find((branch) => branch.properties?.[tag]?.const === value);
}

/**
 * Every default under a section of the schema, nested objects included, e.g. schemaDefaults('edge', 'camera'):
 * code that builds a section without a profile (the bench, tests) starts from the same values as the daemon.
 */
export function schemaDefaults(kind: ConfigKind, path: string, variant?: string): Record<string, unknown> {
  let node: SchemaNode | undefined = configSchema(kind);
  for (const key of path.split('.')) node = settingIn(node, key, variant);
  if (node?.oneOf) {
    const tag = discriminatorOf(node);
    const value = variant ?? (node.default as Record<string, unknown> | undefined)?.[tag];
    node = variantOf(node, value);
    if (node) return { [tag]: value, ...fillDefaults(node) };
  }
  if (!node?.properties) throw new Error(`the ${kind} schema has no section ${path}`);
  return fillDefaults(node);
}

/**
 * As ajv's useDefaults fills an empty section: a nested section appears only where it has a default of its own; a
 * setting with variants gets its default variant's defaults (ajv's discriminator fills the chosen branch).
 */
function fillDefaults(node: SchemaNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (child.default === undefined) continue;
    const chosen = child.oneOf ? variantOf(child, (child.default as Record<string, unknown>)[discriminatorOf(child)]) : child;
    out[key] = chosen?.properties ? { ...(child.default as object), ...fillDefaults(chosen) } : child.default;
  }
  return out;
}

export async function loadEdgeConfig(file: string, options: LoadOptions = {}): Promise<EdgeConfig> {
  return (await load(file, 'edge', options)) as unknown as EdgeConfig;
}

export async function loadRecognizerConfig(file: string, options: LoadOptions = {}): Promise<RecognizerConfig> {
  return (await load(file, 'recognizer', options)) as unknown as RecognizerConfig;
}

/**
 * Problems of a configuration file against its schema (`enfpire config check`): missing file, YAML syntax,
 * unknown or misspelt settings, wrong types and ranges. It does not read secrets or check that files exist,
 * so a device profile can be checked on a laptop.
 */
export function checkConfigFile(file: string, kind: ConfigKind): Problem[] {
  return checkConfig(file, kind).problems;
}

/** As checkConfigFile, with the warnings of a profile read the old way (a setting that moved, migrate.ts). */
export function checkConfig(file: string, kind: ConfigKind): { problems: Problem[]; warnings: Problem[] } {
  const { problems, warnings } = validate(file, kind);
  return { problems, warnings };
}

async function load(file: string, kind: ConfigKind, options: LoadOptions): Promise<Record<string, unknown>> {
  const { config, problems, warnings } = validate(file, kind);
  for (const warning of warnings) options.onWarning?.(warning);
  if (config && problems.length === 0) {
    const baseDir = dirname(resolve(file));
    await resolveFields(configSchema(kind), config, [], { baseDir, env: options.env ?? process.env, problems });
    config.configFile = resolve(file);
  }
  if (problems.length > 0 || !config) {
    // One problem reads as one sentence; several get one line each under a heading.
    if (problems.length === 1) throw new UserError(`${file}: ${formatProblem(problems[0])}`);
    const lines = problems.map((problem) => `  ${formatProblem(problem)}`).join('\n');
    throw new UserError(`The ${kind} configuration ${file} has ${count(problems.length)}:\n${lines}`);
  }
  return config;
}

interface Validated {
  config: Record<string, unknown> | null;
  problems: Problem[];
  /** Settings read the old way (migrate.ts). */
  warnings: Problem[];
}

/**
 * Reads, parses, brings an older profile into the current shape and schema-checks a file; `config` carries the
 * defaults when there are no problems.
 */
function validate(file: string, kind: ConfigKind): Validated {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message =
      code === 'ENOENT' ? `the file ${file} does not exist`
      : code === 'EISDIR' ? `${file} is a folder, not a file`
      : `the file ${file} cannot be read (${code})`;
    return { config: null, problems: [{ path: '', message, fix: 'give the path of a YAML configuration file' }], warnings: [] };
  }

  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const problems = document.errors.map((error) => {
      const where = error.linePos?.[0];
      const at = where ? `line ${where.line}, column ${where.col}` : 'an unknown place';
      return {
        path: '',
        message: `YAML syntax error at ${at}: ${error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
        fix: `fix the YAML${where ? ` at line ${where.line}` : ''} (indentation, a missing ':' or an unclosed quote are the usual causes)`,
      };
    });
    return { config: null, problems, warnings: [] };
  }

  const data: unknown = document.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    return {
      config: null,
      problems: [{ path: '', message: 'the file is not a mapping of settings', fix: 'write settings as `key: value` lines' }],
      warnings: [],
    };
  }

  const config = structuredClone(data) as Record<string, unknown>;
  const { validator, schema } = compiled(kind);
  const { warnings, moved } = kind === 'edge' ? migrateEdgeProfile(config, schema) : { warnings: [], moved: new Map<string, string>() };
  const problems = validator(config) ? [] : problemsFromAjv(validator.errors ?? [], schema);
  const reported = new Set(problems.map((problem) => problem.path));
  problems.push(...semanticProblems(config, kind).filter((problem) => !reported.has(problem.path)));
  return { config, problems: nameOldPlaces(problems, moved), warnings };
}

/** Rules the schema cannot say clearly enough. */
function semanticProblems(config: Record<string, unknown>, kind: ConfigKind): Problem[] {
  return [
    ...brokerUrlProblems(config, kind),
    ...unsignedBrokerProblems(config, kind),
    ...listenProblems(config, kind),
    ...rotationPauseProblems(config, kind),
  ];
}

function rotationPauseProblems(config: Record<string, unknown>, kind: ConfigKind): Problem[] {
  const pause = (config.transport as { rotatePauseSeconds?: { min?: unknown; max?: unknown } } | undefined)?.rotatePauseSeconds;
  if (kind !== 'edge' || typeof pause?.min !== 'number' || typeof pause.max !== 'number' || pause.min <= pause.max) return [];
  return [
    {
      path: 'transport.rotatePauseSeconds',
      message: `min (${pause.min}) is greater than max (${pause.max})`,
      fix: 'set min to at most max',
    },
  ];
}

/**
 * The local API serves results, which must never leave the device: loopback or a unix socket only. api.lan.listen
 * may be any address, since every request on it must carry the token. The recognizer's metrics.listen may be any
 * address too: its metrics are aggregate counts (daemon/recognizer/metrics.ts).
 */
function listenProblems(config: Record<string, unknown>, kind: ConfigKind): Problem[] {
  const api = config.api as { listen?: unknown; lan?: { listen?: unknown } } | undefined;
  const metrics = config.metrics as { listen?: unknown } | undefined;
  const settings: [path: string, listen: unknown, network: boolean, fix: string][] =
    kind === 'edge'
      ? [
          ['api.listen', api?.listen, false, "use '127.0.0.1:PORT' or 'unix:/run/enfpire/api.sock'"],
          ['api.lan.listen', api?.lan?.listen, true, "write it like '0.0.0.0:8766'"],
        ]
      : [['metrics.listen', metrics?.listen, true, "write it like '127.0.0.1:8767'"]];
  const problems: Problem[] = [];
  for (const [path, listen, network, fix] of settings) {
    if (typeof listen !== 'string') continue;
    try {
      parseListenAddress(listen, path, network);
    } catch (err) {
      // The parser's sentence names the setting and an example; here the path and the fix say those.
      const message = (err as Error).message.replace(/(;.*|\.)$/s, '').replace(`${path} `, '');
      problems.push({ path, message, fix });
    }
  }
  return problems;
}

function brokerUrlProblems(config: Record<string, unknown>, kind: ConfigKind): Problem[] {
  const section = kind === 'edge' ? 'transport' : 'broker';
  const url = (config[section] as Record<string, unknown> | undefined)?.url;
  if (typeof url !== 'string') return [];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [{ path: `${section}.url`, message: `'${url}' is not a URL`, fix: "write it like 'mqtts://broker.example.org:8883'" }];
  }
  if (parsed.username || parsed.password) {
    return [
      {
        path: `${section}.url`,
        message: 'credentials are not allowed in the URL',
        fix: `remove 'user:password@' and use ${section}.usernameFile and ${section}.passwordFile`,
      },
    ];
  }
  // Without TLS the fleet password and every query cross the network in clear; on this host nothing crosses it.
  const allowInsecure = (config[section] as Record<string, unknown>).allowInsecure === true;
  if (parsed.protocol === 'mqtt:' && !isLoopbackHost(parsed.hostname) && !allowInsecure) {
    return [
      {
        path: `${section}.url`,
        message: `'${url}' has no TLS: the broker password and every query would cross the network in clear`,
        fix: `use mqtts://${parsed.host.replace(/:1883$/, ':8883')} (set ${section}.caFile for a private CA), or set ${section}.allowInsecure: true on a network you trust end to end`,
      },
    ];
  }
  return [];
}

/**
 * A device must pin the operator's key unless the broker runs on this host: otherwise anyone who can publish there
 * could forge answers and region packs (docs/protocol.md, "Signatures").
 */
function unsignedBrokerProblems(config: Record<string, unknown>, kind: ConfigKind): Problem[] {
  if (kind !== 'edge') return [];
  const transport = config.transport as Record<string, unknown> | undefined;
  if (!transport || transport.recognizerKeyFile !== undefined || transport.allowUnsigned === true) return [];
  let host: string;
  try {
    host = new URL(String(transport.url)).hostname;
  } catch {
    return []; // brokerUrlProblems names the URL
  }
  if (isLoopbackHost(host)) return [];
  return [
    {
      path: 'transport.recognizerKeyFile',
      message: `is not set, so answers from the broker at ${host} would be accepted unsigned: anyone who can publish there could forge them`,
      fix: "set it to the operator's public key (the .pub file `enfpire keygen` writes), or set transport.allowUnsigned: true",
    },
  ];
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

interface ResolveContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  problems: Problem[];
}

/** Walks the schema beside the data: makes 'path' settings absolute and resolves file references. */
async function resolveFields(
  schema: SchemaNode,
  data: Record<string, unknown>,
  segments: string[],
  context: ResolveContext,
): Promise<void> {
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    const value = data[key];
    const settingPath = [...segments, key].join('.');
    if (node.properties && value && typeof value === 'object') {
      await resolveFields(node, value as Record<string, unknown>, [...segments, key], context);
      continue;
    }
    if (typeof value !== 'string') continue;
    if (node.format === 'path') {
      data[key] = resolve(context.baseDir, value);
      continue;
    }
    if (node.format !== 'secret-file' && node.format !== 'credential-path') continue;
    const reference = resolveFileReference(value, settingPath, context.baseDir, context.env);
    if ('problem' in reference) {
      context.problems.push(reference.problem);
      continue;
    }
    data[key] = reference.file;
    if (node.format === 'secret-file') {
      // usernameFile → username: the typed config carries the secret, not just where it was.
      const secret = await readSecret(reference.file, settingPath);
      if ('problem' in secret) context.problems.push(secret.problem);
      else data[key.replace(/File$/, '')] = secret.value;
    } else {
      const problem = await checkReadable(reference.file, settingPath);
      if (problem) context.problems.push(problem);
    }
  }
}

const validators = new Map<ConfigKind, { validator: ValidateFunction; schema: SchemaNode }>();

function compiled(kind: ConfigKind): { validator: ValidateFunction; schema: SchemaNode } {
  let entry = validators.get(kind);
  if (!entry) {
    const schema = JSON.parse(readFileSync(resolve(SCHEMA_DIR, `${kind}.schema.json`), 'utf8')) as SchemaNode;
    // discriminator: a setting with variants (privacy.transform) is checked against the one branch its kind names, so
    // that branch's defaults are filled (ajv fills none inside a plain oneOf, and strict mode refuses them there) and
    // a problem is reported against the kind the profile chose, not against every branch.
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strictTypes: false, discriminator: true });
    ajv.addFormat('path', true);
    const fileReference = /^(credential:[A-Za-z0-9_.@-]+|(?!credential:).+)$/s;
    ajv.addFormat('secret-file', fileReference);
    ajv.addFormat('credential-path', fileReference);
    entry = { validator: ajv.compile(schema), schema };
    validators.set(kind, entry);
  }
  return entry;
}

function count(n: number): string {
  return n === 1 ? '1 problem' : `${n} problems`;
}
