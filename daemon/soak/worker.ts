/**
 * One process of the soak, forked with an IPC channel: `worker.js edge PROFILE` or `worker.js recognizer PROFILE`.
 * The service is assembled from the profile exactly as `enfpire edge` and `enfpire recognizer` assemble it; the
 * worker only adds what the soak measures from inside (V8 heap in use, counters) and forwards each result the edge
 * acknowledges, after its row is committed. It stops on SIGTERM and when the soak that forked it goes away.
 */
import { loadEdgeConfig, loadRecognizerConfig } from '../config/load.js';
import { formatWarning } from '../config/problems.js';
import type { Problem } from '../config/types.js';
import type { EdgeResult } from '../edge/edge-daemon.js';
import { EdgeRuntime } from '../edge/edge-runtime.js';
import { RecognizerService } from '../recognizer/service.js';
import { createLogger } from '../util/log.js';
import type { FromWorker, ToWorker, WorkerCounters } from './child.js';

const send = (m: FromWorker) => process.send?.(m);

async function main(role: string | undefined, profile: string | undefined): Promise<void> {
  if (!profile || (role !== 'edge' && role !== 'recognizer')) throw new Error('usage: worker.js edge|recognizer PROFILE');
  let counters: () => WorkerCounters;
  let service: { start(): Promise<void>; stop(): Promise<void> };
  if (role === 'edge') {
    const warnings: Problem[] = [];
    const config = await loadEdgeConfig(profile, { onWarning: (w) => warnings.push(w) });
    const logger = createLogger({ level: config.log.level, name: 'soak-edge' });
    for (const w of warnings) logger.warn({ setting: w.path }, formatWarning(w));
    const runtime = new EdgeRuntime({ config, logger });
    runtime.on('result', (r: EdgeResult) => send({ type: 'result', at: r.at, label: r.label, queried: !r.fromCache }));
    counters = () => {
      const s = runtime.edge.stats();
      const t = runtime.transport.counters();
      return {
        frames: s.frames,
        extracted: s.extracted,
        results: s.results,
        realQueries: s.realQueries,
        dummyQueries: s.dummyQueries,
        failedQueries: s.failedQueries,
        retried: s.retried,
        failedFrames: s.failedFrames,
        superseded: s.superseded,
        errors: s.errors,
        timeouts: t.timeouts,
        dropped: t.dropped,
      };
    };
    service = runtime;
  } else {
    const config = await loadRecognizerConfig(profile);
    const recognizer = new RecognizerService({ config, logger: createLogger({ level: config.log.level, name: 'soak-recognizer' }) });
    counters = () => {
      const c = recognizer.counters();
      return { queries: c?.queries ?? 0, replies: c?.replies ?? 0, errors: c?.errors ?? 0, dropped: c?.dropped ?? 0 };
    };
    service = recognizer;
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= service.stop().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  await service.start();
  process.on('message', (m: ToWorker) => {
    if (m.type === 'usage') send({ type: 'usage', id: m.id, heapUsedBytes: process.memoryUsage().heapUsed, counters: counters() });
  });
  send({ type: 'ready' });
}

main(process.argv[2], process.argv[3]).catch((err: Error) => {
  process.stderr.write(`soak ${process.argv[2]}: ${err.message}\n`);
  process.exit(1);
});
