#!/usr/bin/env node
/**
 * Fetches the ImageNet MobileNetV2 the learned extractor starts from (models/enfpire-mnv2-*.md, issue #11) and
 * writes it where scripts/train-extractor.py reads it.
 *
 *   node scripts/fetch-backbone.mjs [--cache DIR]      # prints the folder it wrote
 *
 * Source: the npm package nsfwjs 4.4.0 (MIT), which ships a Keras MobileNetV2 (alpha 1.0, 224 px; Keras application
 * weights, Apache-2.0) as a TensorFlow.js layers model wrapped in UMD modules: `dist/models/mobilenet_v2/model.min.js`
 * (the Keras topology) and `group1-shard1of1.min.js` (every weight, uint8-quantised per tensor, base64). The topology
 * marks every layer up to `block_10_project_BN` `trainable: false`: those still hold the ImageNet weights; later
 * blocks were fine-tuned for nsfwjs's own task and serve only as a starting point.
 *
 * `npm pack` checks the tarball against the registry's integrity hash; the hash is recorded in `source.json`.
 * Output, in `<cache>/nsfwjs-4.4.0/` (default cache ${XDG_CACHE_HOME:-~/.cache}/enfpire/backbone):
 *   layers.json   every Keras layer: class, name, the config fields a rebuild needs, inbound layer names, trainable
 *   weights.bin   every weight dequantised (min + q × scale) as little-endian float32, in manifest order
 *   weights.json  [{ name, shape, offset (in floats), quantization }]
 *   source.json   package, version, integrity, licence chain
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const PACKAGE = 'nsfwjs';
const VERSION = '4.4.0';
const MODEL_DIR = 'package/dist/models/mobilenet_v2';

const { values: args } = parseArgs({ options: { cache: { type: 'string' } } });
const cacheRoot = resolve(args.cache ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'enfpire', 'backbone'));
const out = join(cacheRoot, `${PACKAGE}-${VERSION}`);
await mkdir(out, { recursive: true });

function run(command, argv, cwd) {
  const result = spawnSync(command, argv, { cwd, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${command} ${argv.join(' ')} failed (${result.stderr.trim().split('\n').pop() ?? result.status}): check that the npm registry can be reached`);
  }
  return result.stdout;
}

const tarball = join(out, `${PACKAGE}-${VERSION}.tgz`);
let integrity;
if (!existsSync(tarball)) {
  const packed = JSON.parse(run('npm', ['pack', `${PACKAGE}@${VERSION}`, '--json', '--pack-destination', out], out));
  integrity = packed[0].integrity;
} else {
  integrity = JSON.parse(await readFile(join(out, 'source.json'), 'utf8').catch(() => '{}')).integrity;
}
run('tar', ['xzf', tarball, '-C', out, `${MODEL_DIR}/model.min.js`, `${MODEL_DIR}/group1-shard1of1.min.js`, 'package/LICENSE']);

// The UMD wrappers export plain data: the topology object and the shard as a base64 string.
const require = createRequire(import.meta.url);
const model = require(join(out, MODEL_DIR, 'model.min.js'));
const shard = Buffer.from(require(join(out, MODEL_DIR, 'group1-shard1of1.min.js')), 'base64');

const KEEP = ['kernel_size', 'strides', 'padding', 'filters', 'use_bias', 'epsilon', 'max_value', 'depth_multiplier', 'units', 'activation', 'pool_size'];
const layers = model.modelTopology.model_config.config.layers.map((layer) => ({
  class: layer.class_name,
  name: layer.config.name,
  trainable: layer.config.trainable !== false,
  config: Object.fromEntries(KEEP.filter((k) => k in layer.config).map((k) => [k, layer.config[k]])),
  inbound: layer.inbound_nodes.flatMap((node) => node.map((entry) => entry[0])),
}));

const manifest = model.weightsManifest.flatMap((group) => group.weights);
const floats = manifest.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
if (shard.length !== floats) throw new Error(`the shard holds ${shard.length} bytes but the manifest names ${floats} uint8 weights: not the expected nsfwjs ${VERSION} model`);
const values = new Float32Array(floats);
const index = [];
let offset = 0;
for (const w of manifest) {
  const size = w.shape.reduce((a, b) => a * b, 1);
  if (w.quantization?.dtype !== 'uint8') throw new Error(`weight ${w.name} is not uint8-quantised (${JSON.stringify(w.quantization)})`);
  const { min, scale } = w.quantization;
  for (let i = 0; i < size; i++) values[offset + i] = min + shard[offset + i] * scale;
  index.push({ name: w.name, shape: w.shape, offset, quantization: w.quantization });
  offset += size;
}

await writeFile(join(out, 'layers.json'), JSON.stringify(layers, null, 1));
await writeFile(join(out, 'weights.json'), JSON.stringify(index, null, 1));
await writeFile(join(out, 'weights.bin'), Buffer.from(values.buffer));
await writeFile(
  join(out, 'source.json'),
  JSON.stringify(
    {
      package: PACKAGE,
      version: VERSION,
      integrity,
      files: [`${MODEL_DIR}/model.min.js`, `${MODEL_DIR}/group1-shard1of1.min.js`],
      licence: 'nsfwjs: MIT (package/LICENSE); MobileNetV2 ImageNet weights: Keras Applications, Apache-2.0',
      frozen: layers.filter((l) => !l.trainable).map((l) => l.name).pop(),
    },
    null,
    1,
  ),
);
console.log(out);
