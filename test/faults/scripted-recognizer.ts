/**
 * A recognizer whose answers a fault test scripts: the real request logic (Recognizer over the enrolled sample
 * gallery) behind the real MQTT endpoint, with a `fail` rule deciding which queries get an error reply instead.
 * The rule may also say 'silent': that query is taken and never answered (a recognizer that died holding it).
 * The rule sees the query's place in the order the device sent them, so a test that records the device's own
 * 'query' events knows which ones were real — the server itself cannot tell (that is the point of the design).
 */
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { Recognizer } from '../../daemon/recognizer/recognizer.js';
import { createSpotIndex } from '../../daemon/recognizer/spot-index.js';
import { SpotStore } from '../../daemon/recognizer/spot-store.js';
import { wireLimitsFor } from '../../daemon/transport/limits.js';
import type { ErrorMessage, QueryMessage, ReplyMessage } from '../../daemon/transport/messages.js';
import { RecognizerEndpoint } from '../../daemon/transport/recognizer-endpoint.js';
import { defaultModelManifest } from '../../daemon/util/paths.js';

export interface ScriptedRecognizer {
  /** Every query taken, in arrival order (the order one device sent them). */
  queries: QueryMessage[];
  /** Indexes (into `queries`) of those answered with an error. */
  refused: number[];
  /** Indexes of those never answered. */
  silenced: number[];
  stop(): Promise<void>;
}

export async function startScriptedRecognizer(
  url: string,
  galleryPath: string,
  fail: (index: number, query: QueryMessage) => boolean | 'silent',
): Promise<ScriptedRecognizer> {
  const manifest = await loadManifest(defaultModelManifest);
  const store = SpotStore.open(galleryPath, { model: manifest.id, dimension: manifest.output.dimension });
  const recognizer = new Recognizer(store, createSpotIndex(store.all(), { kind: 'exact' }));
  const queries: QueryMessage[] = [];
  const refused: number[] = [];
  const silenced: number[] = [];
  // Settled at stop() only, so the endpoint's drain does not wait for them.
  const held: (() => void)[] = [];
  const endpoint = new RecognizerEndpoint({ group: 'recognizers',
    url,
    limits: wireLimitsFor(manifest.output.dimension),
    handler: {
      info: () => recognizer.info(),
      region: (r) => recognizer.region(r),
      query: (q): ReplyMessage | ErrorMessage | Promise<ErrorMessage> => {
        const index = queries.push(q) - 1;
        const rule = fail(index, q);
        if (!rule) return recognizer.handleQuery(q);
        if (rule === 'silent') {
          silenced.push(index);
          return new Promise((resolve) => held.push(() => resolve({ type: 'error', code: 'internal', message: 'scripted silence' })));
        }
        refused.push(index);
        return { type: 'error', code: 'internal', message: 'scripted failure' };
      },
    },
  });
  await endpoint.start();
  return {
    queries,
    refused,
    silenced,
    stop: async () => {
      for (const release of held) release();
      await endpoint.stop();
      store.close();
    },
  };
}
