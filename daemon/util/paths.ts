import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** The checkout / installed package root: works from both daemon/util (tsx, tests) and dist/util (compiled). */
export const packageRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** The shipped default model manifest. */
export const defaultModelManifest = resolve(packageRoot, 'models', 'enfpire-mnv2-int8-v1.json');

/** The bundled sample spots replayed by the demo. */
export const sampleSpotsDir = resolve(packageRoot, 'samples', 'spots');
