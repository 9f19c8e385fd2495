import { join } from 'node:path';
import { OnnxExtractor } from '../extractor/onnx-extractor.js';
import { enroll } from '../recognizer/enroll.js';
import { defaultModelManifest, sampleSpotsDir } from '../util/paths.js';

/**
 * A recognizer gallery of the bundled sample spots, enrolled with the shipped model into `dir`/recognizer.db:
 * references only (view models take far longer, and neither the soak nor the integration tests need them).
 */
export async function enrolSampleGallery(dir: string): Promise<string> {
  const extractor = new OnnxExtractor({ manifestPath: defaultModelManifest });
  await extractor.start();
  const galleryPath = join(dir, 'recognizer.db');
  try {
    await enroll({ spotsDir: sampleSpotsDir, outPath: galleryPath, extractor, viewModel: false });
  } finally {
    await extractor.stop();
  }
  return galleryPath;
}
