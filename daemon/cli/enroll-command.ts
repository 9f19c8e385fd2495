import { resolve } from 'node:path';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { enroll } from '../recognizer/enroll.js';
import { createLogger } from '../util/log.js';
import { defaultModelManifest } from '../util/paths.js';
import { integerOption, parseCommandArgs, required, type CommandOptions } from './args.js';

/** The options `enfpire enroll` accepts (node:util parseArgs); test/cli/help-flags.test.ts holds `enfpire --help` to them. */
export const ENROLL_OPTIONS = {
  spots: { type: 'string' },
  out: { type: 'string' },
  model: { type: 'string' },
  'reference-views': { type: 'string' },
} as const satisfies CommandOptions;

/**
 * `enfpire enroll --spots DIR --out DB [--model MANIFEST] [--reference-views N]`: builds a recognizer gallery from spot
 * photos. Each reference averages N camera views of the spot's photos (default 4, enroll.ts `DEFAULT_REFERENCE_VIEWS`;
 * 0: the photos alone).
 */
export async function runEnrollCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('enroll', args, ENROLL_OPTIONS);
  const spotsDir = resolve(required('enroll', 'spots', values.spots));
  const outPath = resolve(required('enroll', 'out', values.out));
  const referenceViews = values['reference-views'] === undefined ? undefined : integerOption('enroll', 'reference-views', values['reference-views'], 0, 64);
  const logger = createLogger({ name: 'enfpire-enroll' });
  const extractor = new OnnxExtractor({ manifestPath: resolve(values.model ?? defaultModelManifest), logger });
  await extractor.start();
  try {
    const result = await enroll({ spotsDir, outPath, extractor, logger, referenceViews });
    process.stdout.write(
      `enrolled ${result.spots} spots from ${result.photos} photos into ${outPath} (model ${extractor.modelId}, gallery ${result.galleryVersion})\n`,
    );
    return 0;
  } finally {
    await extractor.stop();
  }
}
