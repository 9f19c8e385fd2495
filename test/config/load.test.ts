import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import {
  checkConfigFile,
  configSchema,
  loadEdgeConfig,
  loadRecognizerConfig,
  type ConfigKind,
} from '../../daemon/config/load.js';
import type { SchemaNode } from '../../daemon/config/problems.js';
import type { Problem } from '../../daemon/config/types.js';
import { UserError } from '../../daemon/util/errors.js';
import { signerFrom, trustedKeysFrom } from '../../daemon/config/broker.js';
import { generateSigningKeys } from '../../daemon/transport/signing.js';

const firmwareConfig = fileURLToPath(new URL('../../firmware-config/', import.meta.url));
const minimalEdge = { camera: { dir: 'frames' }, transport: { url: 'mqtt://127.0.0.1:1883' } };

/** Writes `content` (an object as YAML, or raw text) to `name` in `dir` and returns the path. */
function write(dir: string, name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

function problemsOf(dir: string, content: unknown, kind: ConfigKind = 'edge'): Problem[] {
  return checkConfigFile(write(dir, `${kind}.yaml`, content), kind);
}

function only(t: Test, problems: Problem[], path: string): Problem {
  const found = problems.filter((p) => p.path === path);
  t.equal(found.length, 1, `one problem at '${path}' in ${JSON.stringify(problems)}`);
  return found[0] ?? { path: '', message: '', fix: '' };
}

/**
 * Every property of a schema as dotted paths, with its node. A setting with variants (privacy.transform) goes on in
 * its default variant, as a profile holds one of them; `variant` names another, `all` walks every variant.
 */
function schemaLeaves(node: SchemaNode, prefix = '', variant?: string): Array<[string, SchemaNode]> {
  return Object.entries(node.properties ?? {}).flatMap(([key, sub]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    if (sub.oneOf) {
      const chosen = variant ?? (sub.default as { kind?: string } | undefined)?.kind;
      return sub.oneOf.filter((branch) => chosen === 'all' || branch.properties?.kind?.const === chosen).flatMap((branch) => schemaLeaves(branch, path, variant));
    }
    return sub.properties ? schemaLeaves(sub, path, variant) : [[path, sub] as [string, SchemaNode]];
  });
}

/** Fields the loader adds beside the settings: each secret-file setting's content (usernameFile → username), the file. */
function derivedLeaves(node: SchemaNode): string[] {
  return [
    ...schemaLeaves(node).flatMap(([path, leaf]) => (leaf.format === 'secret-file' ? [path.replace(/File$/, '')] : [])),
    'configFile',
  ];
}

function get(object: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], object);
}

function set(object: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = object;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[keys[keys.length - 1]] = value;
}

t.test('the shipped development profiles are valid and resolve paths against their folder', async (t) => {
  t.same(checkConfigFile(join(firmwareConfig, 'dev-files.yaml'), 'edge'), []);
  t.same(checkConfigFile(join(firmwareConfig, 'recognizer.yaml'), 'recognizer'), []);
  const edge = await loadEdgeConfig(join(firmwareConfig, 'dev-files.yaml'));
  t.equal(edge.camera.kind, 'files');
  t.equal(edge.camera.dir, resolve(firmwareConfig, '..', 'samples', 'spots'));
  t.equal(edge.model.manifest, resolve(firmwareConfig, '..', 'models', 'enfpire-mnv2-int8-v1.json'));
  t.match(edge.transport.url, /^mqtt:\/\/127\.0\.0\.1:1883$/);
  t.equal(edge.configFile, join(firmwareConfig, 'dev-files.yaml'));
  const recognizer = await loadRecognizerConfig(join(firmwareConfig, 'recognizer.yaml'));
  t.equal(recognizer.model, edge.model.manifest, 'both sides use the same model');
});

for (const kind of ['edge', 'recognizer'] as const) {
  // The typed config is generated from the schema (test/config/generated-types.test.ts): nothing to compare here.
  t.test(`${kind}: every setting of the schema has a description, and no derived field is a setting`, async (t) => {
    const fromSchema = schemaLeaves(configSchema(kind)).map(([path]) => path);
    for (const path of derivedLeaves(configSchema(kind))) t.notOk(fromSchema.includes(path), `${path} is derived`);
    for (const [path, node] of schemaLeaves(configSchema(kind), '', 'all')) t.ok(node.description, `${path} has a description`);
  });

  t.test(`${kind}: a config built from the schema's examples loads with every setting present`, async (t) => {
    const dir = t.testdir({ credentials: {} });
    const credentials = join(dir, 'credentials');
    const full: Record<string, unknown> = {};
    for (const [path, node] of schemaLeaves(configSchema(kind))) {
      let value = node.examples?.[0] ?? node.default ?? node.const;
      if (node.format === 'secret-file' || node.format === 'credential-path') {
        const name = path.replace(/\./g, '-');
        writeFileSync(join(credentials, name), `${name}-value\n`);
        value = `credential:${name}`;
      }
      t.not(value, undefined, `${path} has an example or a default`);
      set(full, path, value);
    }
    const file = write(dir, 'full.yaml', full);
    t.same(checkConfigFile(file, kind), [], 'the examples are valid');
    const env = { CREDENTIALS_DIRECTORY: credentials };
    const loaded = kind === 'edge' ? await loadEdgeConfig(file, { env }) : await loadRecognizerConfig(file, { env });
    for (const path of [...schemaLeaves(configSchema(kind)).map(([leaf]) => leaf), ...derivedLeaves(configSchema(kind))]) {
      t.not(get(loaded, path), undefined, `${path} is in the loaded config`);
    }
    const section = kind === 'edge' ? 'transport' : 'broker';
    t.equal(get(loaded, `${section}.password`), `${section}-passwordFile-value`, 'secret read and trimmed');
    t.equal(get(loaded, `${section}.caFile`), join(credentials, `${section}-caFile`));
  });
}

t.test('a minimal config gets every default of the schema', async (t) => {
  const dir = t.testdir();
  const config = await loadEdgeConfig(write(dir, 'edge.yaml', minimalEdge));
  for (const [path, node] of schemaLeaves(configSchema('edge'))) {
    if (node.default === undefined) continue;
    const expected = node.format === 'path' ? resolve(dir, node.default as string) : node.default;
    t.same(get(config, path), expected, `${path} defaults to ${JSON.stringify(expected)}`);
  }
  t.equal(config.camera.dir, join(dir, 'frames'), 'relative to the config file, not the working directory');
  t.same(config.privacy.transform.kind, 'kmix', 'the default transform');
  t.equal(config.privacy.transform.k, 4);
  t.equal(config.transport.password, undefined);

  const recognizer = await loadRecognizerConfig(write(dir, 'r.yaml', { broker: { url: 'mqtts://b.example:8883' } }));
  t.equal(recognizer.index.kind, 'int8-onnx');
  t.equal(recognizer.gallery, join(dir, 'enfpire-recognizer.db'));
});

t.test('each kind of mistake names the setting and a fix', async (t) => {
  const dir = t.testdir();
  const withEdge = (patch: Record<string, Record<string, unknown>>) => {
    const config = structuredClone(minimalEdge) as Record<string, Record<string, unknown>>;
    for (const [section, values] of Object.entries(patch)) config[section] = { ...config[section], ...values };
    return problemsOf(dir, config);
  };

  const typo = only(t, withEdge({ camera: { fsp: 3 } }), 'camera.fsp');
  t.equal(typo.message, 'unknown setting');
  t.equal(typo.fix, "did you mean 'fps'?");
  t.match(only(t, withEdge({ privacy: { transform: { kind: 'kmix', decoysigma: 0.1 } } }), 'privacy.transform.decoysigma').fix, "'decoySigma'");
  t.match(only(t, problemsOf(dir, { ...minimalEdge, zzz: 1 }), 'zzz').fix, /remove it; the settings here are camera, model/);

  const range = only(t, withEdge({ privacy: { transform: { kind: 'kmix', k: 20 } } }), 'privacy.transform.k');
  t.match(range.message, /must be ≤ 16/);
  t.equal(range.fix, 'set k between 1 and 16');
  t.match(only(t, withEdge({ camera: { fps: 0 } }), 'camera.fps'), { message: /> 0/, fix: /more than 0/ });

  t.match(only(t, withEdge({ privacy: { transform: { kind: 'bucket', k: 'four' } } }), 'privacy.transform.k'), {
    message: "must be a whole number (got 'four')",
    fix: /k: 4/,
  });
  t.match(only(t, withEdge({ camera: { kind: 'file' } }), 'camera.kind'), {
    message: "'file' is not allowed",
    fix: /did you mean 'files'\? use one of 'files', 'libcamera'/,
  });
  t.match(only(t, withEdge({ model: { executionProviders: ['cpu', 'gpu'] } }), 'model.executionProviders[1]'), {
    fix: /'cpu', 'cuda', 'tensorrt'/,
  });
  t.match(only(t, withEdge({ transport: { url: 'http://broker:1883' } }), 'transport.url'), { fix: /mqtts:\/\// });
  t.match(only(t, withEdge({ api: { listen: 'localhost' } }), 'api.listen'), { fix: /127\.0\.0\.1:8765/ });
  t.match(only(t, withEdge({ transport: { certFile: 'c.pem' } }), 'transport.keyFile'), {
    message: /required when certFile is set/,
  });
  t.match(only(t, withEdge({ transport: { url: 'mqtt://me:pw@broker:1883' } }), 'transport.url'), {
    message: /credentials are not allowed/,
    fix: /passwordFile/,
  });
  t.match(only(t, withEdge({ transport: { passwordFile: 'credential:bad name' } }), 'transport.passwordFile'), {
    fix: /credential:NAME/,
  });

  const noDir = only(t, problemsOf(dir, { transport: minimalEdge.transport }), 'camera.dir');
  t.equal(noDir.message, "missing (required when camera.kind is 'files')");
  t.match(noDir.fix, /^add dir: /);
  t.same(problemsOf(dir, { camera: { kind: 'libcamera' }, transport: minimalEdge.transport }), [], 'dir only for files');
  t.match(only(t, problemsOf(dir, { camera: { dir: 'x' } }), 'transport'), { fix: /a transport section with url: 'mqtts:/ });
  t.match(only(t, problemsOf(dir, { camera: 'files', transport: minimalEdge.transport }), 'camera'), {
    message: /must be a section of settings/,
  });

  const several = withEdge({ camera: { fsp: 3 }, privacy: { transform: { kind: 'kmix', k: 0 } }, log: { level: 'loud' } });
  t.same(several.map((p) => p.path).sort(), ['camera.fsp', 'log.level', 'privacy.transform.k'], 'all problems at once');
});

t.test('file-level problems: missing file, YAML syntax, not a mapping', async (t) => {
  const dir = t.testdir();
  const [missing] = checkConfigFile(join(dir, 'nope.yaml'), 'edge');
  t.match(missing, { path: '', message: /nope\.yaml does not exist/ });

  const [syntax] = problemsOf(dir, 'camera:\n  dir: x\nprivacy:\n  transform: [1, 2\ntransport:\n  url: mqtt://h:1\n');
  t.match(syntax.message, /^YAML syntax error at line \d+, column \d+/);
  const line = Number(/line (\d+)/.exec(syntax.message)?.[1]);
  t.ok(line >= 4 && line <= 5, `the line (${line}) points at the unclosed list`);
  t.match(syntax.fix, `at line ${line}`);

  t.match(problemsOf(dir, 'camera:\n  dir: x\n  dir: y\n')[0].message, /line 3/, 'duplicate keys are errors');
  t.match(problemsOf(dir, '- a\n- b\n'), [{ path: '', message: /not a mapping/ }]);
  t.match(only(t, problemsOf(dir, ''), 'transport'), { message: 'missing (required)' }, 'an empty file is an empty mapping');
});

t.test('load errors are one UserError with one line per problem', async (t) => {
  const dir = t.testdir();
  const file = write(dir, 'bad.yaml', { camera: { fsp: 1 }, privacy: { transform: { kind: 'kmix', k: 99 } }, transport: { url: 'x' } });
  const error = await loadEdgeConfig(file).catch((e: unknown) => e);
  t.type(error, UserError);
  const lines = (error as Error).message.split('\n');
  t.match(lines[0], `${file} has 4 problems`);
  t.match(lines.slice(1).sort(), [
    /^ {2}camera\.dir: missing/,
    /^ {2}camera\.fsp: unknown setting — did you mean 'fps'\?$/,
    /^ {2}privacy\.transform\.k: must be ≤ 16 \(got 99\) — set k between 1 and 16$/,
    /^ {2}transport\.url: /,
  ]);
  t.equal(lines.length, 5);
});

t.test('secrets come from files, never from the YAML', async (t) => {
  const dir = t.testdir({
    secrets: { user: 'edge-fleet\n', pw: '  s3cret  \n', empty: '\n' },
    creds: { 'broker-password': 'from-systemd\n' },
    'ca.pem': '-----BEGIN CERTIFICATE-----\n',
  });
  const edge = (transport: Record<string, unknown>) =>
    write(dir, 'edge.yaml', { camera: { dir: 'frames' }, transport: { url: 'mqtts://b.example:8883', allowUnsigned: true, ...transport } });

  const fromFiles = await loadEdgeConfig(edge({ usernameFile: 'secrets/user', passwordFile: 'secrets/pw', caFile: 'ca.pem' }));
  t.equal(fromFiles.transport.username, 'edge-fleet');
  t.equal(fromFiles.transport.password, 's3cret', 'trimmed');
  t.equal(fromFiles.transport.passwordFile, join(dir, 'secrets', 'pw'));
  t.equal(fromFiles.transport.caFile, join(dir, 'ca.pem'));

  const env = { CREDENTIALS_DIRECTORY: join(dir, 'creds') };
  const fromSystemd = await loadEdgeConfig(edge({ passwordFile: 'credential:broker-password' }), { env });
  t.equal(fromSystemd.transport.password, 'from-systemd');
  t.equal(fromSystemd.transport.passwordFile, join(dir, 'creds', 'broker-password'));

  await t.rejects(loadEdgeConfig(edge({ passwordFile: 'credential:broker-password' }), { env: {} }), {
    name: 'UserError',
    message: /transport\.passwordFile: 'credential:broker-password' is a systemd credential but \$CREDENTIALS_DIRECTORY is not set — .*LoadCredential=broker-password:/,
  });
  await t.rejects(loadEdgeConfig(edge({ passwordFile: 'secrets/missing' })), {
    message: /transport\.passwordFile: .*missing does not exist — create the file/,
  });
  await t.rejects(loadEdgeConfig(edge({ usernameFile: 'secrets/empty' })), { message: /transport\.usernameFile: .* is empty/ });
  await t.rejects(loadEdgeConfig(edge({ caFile: 'nope.pem' })), { message: /transport\.caFile: .*nope\.pem does not exist/ });
  t.same(checkConfigFile(edge({ passwordFile: 'secrets/missing' }), 'edge'), [], 'config check does not need the secrets');

  const literal = only(t, problemsOf(dir, { ...minimalEdge, transport: { url: 'mqtt://h:1883', password: 'hunter2' } }), 'transport.password');
  t.equal(literal.message, 'secrets are not allowed in the configuration file');
  t.match(literal.fix, /set transport\.passwordFile to its path \(or to 'credential:NAME'/);
  t.notMatch(JSON.stringify(literal), /hunter2/, 'the secret is not repeated in the report');
  t.match(only(t, problemsOf(dir, { broker: { url: 'mqtt://h:1883', username: 'u' } }, 'recognizer'), 'broker.username'), {
    fix: /broker\.usernameFile/,
  });
});

t.test('api.listen must be loopback or a unix socket: results never leave the device', async (t) => {
  const dir = t.testdir();
  const base = { camera: { kind: 'files', dir: '.' }, transport: { url: 'mqtt://127.0.0.1:1883' } };
  for (const listen of ['0.0.0.0:8765', '192.168.1.20:8765']) {
    const problems = checkConfigFile(write(dir, 'edge.yaml', stringify({ ...base, api: { listen } })), 'edge');
    t.ok(problems.some((p) => p.path === 'api.listen' && /loopback/.test(p.message)), `${listen} refused`);
  }
  for (const listen of ['127.0.0.1:8765', 'unix:/run/enfpire/api.sock']) {
    const problems = checkConfigFile(write(dir, 'edge.yaml', stringify({ ...base, api: { listen } })), 'edge');
    t.notOk(problems.some((p) => p.path === 'api.listen'), `${listen} accepted`);
  }
});

t.test('mqtt:// without TLS to another host is refused unless allowInsecure says so', async (t) => {
  const dir = t.testdir();
  const edge = (transport: Record<string, unknown>) => problemsOf(dir, { ...minimalEdge, transport }).filter((p) => p.path === 'transport.url');
  const clear = only(t, problemsOf(dir, { ...minimalEdge, transport: { url: 'mqtt://broker.example.org:1883' } }), 'transport.url');
  t.match(clear.message, /no TLS: the broker password and every query would cross the network in clear/);
  t.match(clear.fix, /mqtts:\/\/broker\.example\.org:8883.*transport\.allowInsecure: true/);
  t.same(edge({ url: 'mqtt://broker.example.org:1883', allowInsecure: true }), [], 'allowed when the profile says so');
  t.same(edge({ url: 'mqtts://broker.example.org:8883' }), [], 'TLS to another host');
  for (const url of ['mqtt://127.0.0.1:1883', 'mqtt://127.0.1.1:1883', 'mqtt://localhost:1883', 'mqtt://[::1]:1883']) {
    t.same(edge({ url }), [], `${url}: on this host nothing crosses the network`);
  }
  t.match(only(t, problemsOf(dir, { broker: { url: 'mqtt://10.0.0.7:1883' } }, 'recognizer'), 'broker.url'), {
    fix: /broker\.allowInsecure: true/,
  });
  t.same(problemsOf(dir, { broker: { url: 'mqtt://10.0.0.7:1883', allowInsecure: true } }, 'recognizer').filter((p) => p.path === 'broker.url'), []);
  t.same(
    problemsOf(dir, { ...minimalEdge, transport: { url: 'mqtt://h:1883', allowInsecure: 'yes', allowUnsigned: true } }).map((p) => p.path).sort(),
    ['transport.allowInsecure', 'transport.url'],
    'a boolean, checked by the schema; anything else does not allow it',
  );
});

t.test('a broker on another host needs the operator key pinned, unless allowUnsigned says so', async (t) => {
  const dir = t.testdir();
  const keys = generateSigningKeys();
  writeFileSync(join(dir, 'operator.pub'), keys.publicPem);
  writeFileSync(join(dir, 'operator.key'), keys.privatePem);
  writeFileSync(join(dir, 'empty.pub'), '\n');
  const remote = 'mqtts://broker.example.org:8883';
  const unsigned = only(t, problemsOf(dir, { ...minimalEdge, transport: { url: remote } }), 'transport.recognizerKeyFile');
  t.match(unsigned.message, /answers from the broker at broker\.example\.org would be accepted unsigned/);
  t.match(unsigned.fix, /enfpire keygen.*transport\.allowUnsigned: true/);
  const keyProblems = (transport: Record<string, unknown>) =>
    problemsOf(dir, { ...minimalEdge, transport: { url: remote, ...transport } }).filter((p) => p.path.startsWith('transport.'));
  t.same(keyProblems({ recognizerKeyFile: 'operator.pub' }), [], 'pinned');
  t.same(keyProblems({ allowUnsigned: true }), [], 'explicitly unsigned');
  t.same(problemsOf(dir, minimalEdge).filter((p) => p.path.startsWith('transport.')), [], 'a broker on this host needs no key');

  // The loaded profile gives the runtime the pinned key; unreadable or empty keys are one sentence naming the setting.
  const file = write(dir, 'edge.yaml', { ...minimalEdge, transport: { url: remote, recognizerKeyFile: 'operator.pub' } });
  const trusted = await trustedKeysFrom((await loadEdgeConfig(file)).transport);
  t.same(trusted.ids(), [keys.keyId]);
  await t.rejects(trustedKeysFrom({ recognizerKeyFile: join(dir, 'empty.pub') }), { name: 'UserError', message: /recognizerKeyFile '.*empty\.pub' is empty/ });
  await t.rejects(trustedKeysFrom({ recognizerKeyFile: join(dir, 'operator.key') }), { name: 'UserError', message: /holds no PEM public key/ });
  const signer = await signerFrom((await loadRecognizerConfig(write(dir, 'r.yaml', { broker: { url: 'mqtt://127.0.0.1:1883' }, signingKeyFile: 'operator.key' }))));
  t.equal(signer?.keyId.toString('hex'), keys.keyId, 'the recognizer reads its private key');
  await t.rejects(signerFrom({ signingKeyFile: join(dir, 'operator.pub') }), { name: 'UserError', message: /is not a PEM private key/ });
});
