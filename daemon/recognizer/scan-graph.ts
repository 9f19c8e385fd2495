/**
 * The ONNX graph of the batched scan (docs/decisions.md #31, #32), written in-process: scores = Q · Gᵀ, then TopK in
 * the same graph, so only [B, K] scores and indices come back to JS. The gallery G is an initializer (a constant the
 * session keeps and packs once for its matrix product), so the graph is rebuilt whenever the gallery changes; a
 * gallery is loaded once per serving process, so that is once per start. In float32 (exact-onnx) the product is a
 * Gemm; in int8 (int8-onnx) an integer product of uint8 queries (zero point 128) with the int8 gallery, each row's
 * products scaled by that row's scale, ranks a shortlist that is scored again in float32 in the same graph. The
 * integer product is ONNX Runtime's MatMulIntegerToFloat (a com.microsoft contrib op, part of every onnxruntime-node
 * build): it applies the row scales as it writes its output, where MatMulInteger, Cast and Mul made two more passes
 * over [batch, rows] (27 → 20 ms a batch of 64 at 100,000 spots, docs/decisions.md #32).
 *
 * ONNX is protobuf; the graph needs a handful of message fields only, so they are written here directly rather than
 * through a protobuf library (field numbers from onnx/onnx.proto).
 */

/** ONNX TensorProto.DataType values used here. */
const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT64 = 7;

/** Minimal protobuf writer: length-delimited fields and varints only. */
class Proto {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  varint(field: number, value: number): this {
    this.key(field, 0);
    this.rawVarint(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.rawVarint(value.length);
    this.push(value);
    return this;
  }

  message(field: number, value: Proto): this {
    return this.bytes(field, value.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private key(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  private rawVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint ${value}`);
    const bytes: number[] = [];
    while (value >= 0x80) {
      bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    bytes.push(value);
    this.push(Uint8Array.from(bytes));
  }

  private push(part: Uint8Array): void {
    this.parts.push(part);
    this.length += part.length;
  }
}

/** A tensor type with fixed (number) or named (string) dimensions. */
function valueInfo(name: string, elemType: number, dims: (number | string)[]): Proto {
  const shape = new Proto();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Proto().varint(1, d) : new Proto().string(2, d));
  const tensorType = new Proto().varint(1, elemType).message(2, shape);
  return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
}

/** A node of the standard domain, or of `domain` (ONNX Runtime's contrib ops are 'com.microsoft'). */
function node(op: string, inputs: string[], outputs: string[], attributes: Proto[] = [], domain = ''): Proto {
  const n = new Proto();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  // Named after its first output, which is unique in the graph.
  n.string(3, outputs[0]).string(4, op);
  for (const a of attributes) n.message(5, a);
  if (domain) n.string(7, domain);
  return n;
}

function intAttribute(name: string, value: number): Proto {
  // AttributeProto: name 1, i 3, type 20 (INT = 2).
  return new Proto().string(1, name).varint(3, value).varint(20, 2);
}

/** An initializer (TensorProto): dims 1, data_type 2, name 8, raw_data 9. */
function tensor(name: string, elemType: number, dims: number[], data: ArrayBufferView): Proto {
  const t = new Proto();
  for (const d of dims) t.varint(1, d);
  return t.varint(2, elemType).string(8, name).bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** The query zero point of the int8 graph: a query byte b stands for b − 128 (a signed byte shifted into uint8). */
export const QUERY_ZERO_POINT = 128;

export interface ScanGraphOptions {
  /** The gallery, row-major [rows, dimension], unit rows. */
  gallery: Float32Array;
  rows: number;
  dimension: number;
  /** 'float32' (the default): the exact product. 'int8': see quantizeGallery. */
  precision?: 'float32' | 'int8';
  /** int8: 'row' (the default) scales each row on its own; 'global' one scale for the whole gallery, no Mul. */
  scaling?: 'row' | 'global';
}

/**
 * The gallery for the int8 product: each row quantised symmetrically on its own scale (max |x| / GALLERY_LEVELS, so
 * every row uses the same range whatever its largest component), stored transposed [dimension, rows] as
 * MatMulInteger wants its second operand, with the scales apart.
 *
 * Seven bits, not eight: on x86 without VNNI (AVX2: many AMD EPYC and older Intel) ONNX Runtime multiplies uint8 by
 * int8 with vpmaddubsw, which adds each pair of products into an int16 and saturates: 255 × 127 × 2 overflows it,
 * 255 × 63 × 2 does not (ONNX Runtime's own "reduce_range" for the same reason). With eight bits, on an AMD EPYC the
 * shortlist lost true members and 8 of 40 replies in test/recognizer/onnx-scan-index.test.ts differed from the
 * exact scan's; the float re-score of the shortlist keeps the order exact, so only the shortlist pays the bit.
 */
/** Largest gallery byte of the int8 product (see quantizeGallery). */
export const GALLERY_LEVELS = 63;

export function quantizeGallery(
  gallery: Float32Array,
  rows: number,
  dimension: number,
  scaling: 'row' | 'global' = 'row',
): { transposed: Int8Array; scales: Float32Array } {
  const transposed = new Int8Array(rows * dimension);
  const scales = new Float32Array(rows);
  let overall = 0;
  for (const x of gallery) overall = Math.max(overall, Math.abs(x));
  for (let r = 0; r < rows; r++) {
    let most = overall;
    if (scaling === 'row') {
      most = 0;
      for (let j = 0; j < dimension; j++) most = Math.max(most, Math.abs(gallery[r * dimension + j]));
    }
    const scale = most / GALLERY_LEVELS;
    scales[r] = scale;
    if (scale === 0) continue;
    for (let j = 0; j < dimension; j++) transposed[j * rows + r] = Math.round(gallery[r * dimension + j] / scale);
  }
  return { transposed, scales };
}

/**
 * The model bytes: input `queries` float[B, D] and `k` int64[1]; outputs `scores` float[B, k] (best first) and
 * `indices` int64[B, k] (gallery rows), the float32 products Q · Gᵀ. TopK puts the lower index first among equal
 * scores (ONNX TopK, opset 11+), as ExactIndex does.
 *
 * 'int8' adds the inputs `query_bytes` uint8[B, D] (each query on its own scale, zero point 128) and `shortlist`
 * int64[1] (≥ k): the integer products of the bytes with the int8 gallery, times each row's scale, rank the gallery;
 * the best `shortlist` rows are gathered from the float gallery and scored against `queries` in float32; their best k
 * are the outputs, as in the float32 graph but over the shortlist only.
 */
export function buildScanGraph({ gallery, rows, dimension, precision = 'float32', scaling = 'row' }: ScanGraphOptions): Uint8Array {
  if (gallery.length !== rows * dimension) throw new RangeError(`gallery holds ${gallery.length} values, not ${rows} x ${dimension}`);
  const topK = (input: string, k: string, outputs: string[], sorted = 1) =>
    node('TopK', [input, k], outputs, [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', sorted)]);
  const graph = new Proto();
  if (precision === 'int8') {
    const { transposed, scales } = quantizeGallery(gallery, rows, dimension, scaling);
    graph
      // (query bytes − zero point) · gallery bytes × query scale × row scale. A query's own scale multiplies all its
      // scores alike and does not change their order, so it is 1; with 'global' scaling every row's scale is the same.
      .message(
        1,
        node('MatMulIntegerToFloat', ['query_bytes', 'gallery_int8', 'query_scale', 'row_scales', 'query_zero_point'], ['approximate'], [], 'com.microsoft'),
      )
      .message(5, tensor('query_scale', FLOAT, [], Float32Array.of(1)))
      .message(5, scaling === 'row' ? tensor('row_scales', FLOAT, [rows], scales) : tensor('row_scales', FLOAT, [], Float32Array.of(1)))
      // Unsorted: the shortlist is ordered by the re-score below (TopK's heap then skips its final sort).
      .message(1, topK('approximate', 'shortlist', ['shortlist_scores', 'shortlist_rows'], 0))
      // The shortlisted rows [B, S, D] times the query [B, D, 1]: float32 scores of the shortlist [B, S].
      .message(1, node('Gather', ['gallery', 'shortlist_rows'], ['shortlisted']))
      .message(1, node('Reshape', ['queries', 'column_shape'], ['query_columns']))
      .message(1, node('MatMul', ['shortlisted', 'query_columns'], ['rescored_columns']))
      .message(1, node('Reshape', ['rescored_columns', 'row_shape'], ['rescored']))
      .message(1, topK('rescored', 'k', ['scores', 'positions']))
      .message(1, node('GatherElements', ['shortlist_rows', 'positions'], ['indices'], [intAttribute('axis', 1)]))
      .string(2, 'enfpire-int8-scan')
      .message(5, tensor('gallery_int8', INT8, [dimension, rows], transposed))
      .message(5, tensor('gallery', FLOAT, [rows, dimension], gallery))
      .message(5, tensor('query_zero_point', UINT8, [], Uint8Array.of(QUERY_ZERO_POINT)))
      // Reshape: 0 keeps the batch dimension, -1 is inferred.
      .message(5, tensor('column_shape', INT64, [3], BigInt64Array.of(0n, -1n, 1n)))
      .message(5, tensor('row_shape', INT64, [2], BigInt64Array.of(0n, -1n)))
      .message(11, valueInfo('query_bytes', UINT8, ['batch', dimension]))
      .message(11, valueInfo('shortlist', INT64, [1]));
  } else {
    // Gemm with transB: the gallery stays row-major [N, D] as the index holds it; ORT packs the constant once.
    graph
      .message(1, node('Gemm', ['queries', 'gallery'], ['all_scores'], [intAttribute('transB', 1)]))
      .message(1, topK('all_scores', 'k', ['scores', 'indices']))
      .string(2, 'enfpire-exact-scan')
      .message(5, tensor('gallery', FLOAT, [rows, dimension], gallery));
  }
  graph
    .message(11, valueInfo('queries', FLOAT, ['batch', dimension]))
    .message(11, valueInfo('k', INT64, [1]))
    .message(12, valueInfo('scores', FLOAT, ['batch', 'k_out']))
    .message(12, valueInfo('indices', INT64, ['batch', 'k_out']));
  return new Proto()
    .varint(1, 8) // ir_version
    .string(2, 'enfpire')
    .message(7, graph)
    .message(8, new Proto().string(1, '').varint(2, 13)) // opset_import: ai.onnx 13
    .message(8, new Proto().string(1, 'com.microsoft').varint(2, 1))
    .finish();
}
