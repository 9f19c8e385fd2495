/**
 * Where the batched scan's ONNX graph runs (scan-graph.ts): on the calling thread (`InProcessScanSession`), or on a
 * worker thread of its own (worker-scan-session.ts, index.thread 'worker'). ONNX Runtime's `run` holds the thread that
 * calls it for the whole product (20-30 ms a batch of 64 at 100,000 spots); on the recognizer's own thread that is time
 * in which no query is read from the broker and no reply is sent.
 */
import * as ort from 'onnxruntime-node';

/** One batch: B queries of D floats, and for the int8 graph the same queries as bytes and the shortlist length. */
export interface ScanBatch {
  queries: Float32Array;
  batch: number;
  dimension: number;
  k: number;
  queryBytes?: Uint8Array;
  shortlist?: number;
}

/** The graph's outputs, [B, k] each: float32 scores best first, and the gallery rows they belong to. */
export interface ScanOutputs {
  scores: Float32Array;
  indices: BigInt64Array;
}

export interface ScanSession {
  run(batch: ScanBatch): Promise<ScanOutputs>;
  release(): Promise<void>;
}

export class InProcessScanSession implements ScanSession {
  private released: Promise<void> | undefined;

  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(model: Uint8Array, threads: number): Promise<InProcessScanSession> {
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Spinning intra-op threads hold their cores between batches; the broker and the recognizer's own thread need them.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new InProcessScanSession(session);
  }

  async run(b: ScanBatch): Promise<ScanOutputs> {
    const feeds: Record<string, ort.Tensor> = {
      queries: new ort.Tensor('float32', b.queries, [b.batch, b.dimension]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(b.k)), [1]),
    };
    if (b.queryBytes) {
      feeds.query_bytes = new ort.Tensor('uint8', b.queryBytes, [b.batch, b.dimension]);
      feeds.shortlist = new ort.Tensor('int64', BigInt64Array.of(BigInt(b.shortlist ?? b.k)), [1]);
    }
    const out = await this.session.run(feeds);
    return { scores: out.scores.data as Float32Array, indices: out.indices.data as BigInt64Array };
  }

  release(): Promise<void> {
    // Once: ONNX Runtime throws when a session is released twice.
    this.released ??= this.session.release();
    return this.released;
  }
}
