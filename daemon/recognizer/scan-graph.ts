/**
 * The ONNX graph of the batched exact scan (docs/decisions.md #31), written in-process: scores = Q · Gᵀ, then TopK in
 * the same graph, so only [B, K] scores and indices come back to JS. The gallery G is an initializer (a constant the
 * session keeps and packs once for its matrix product), so the graph is rebuilt whenever the gallery changes; a
 * gallery is loaded once per serving process, so that is once per start.
 *
 * ONNX is protobuf; the graph needs a handful of message fields only, so they are written here directly rather than
 * through a protobuf library (field numbers from onnx/onnx.proto).
 */

/** ONNX TensorProto.DataType values used here. */
const FLOAT = 1;
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

function node(op: string, inputs: string[], outputs: string[], attributes: Proto[] = []): Proto {
  const n = new Proto();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, op.toLowerCase()).string(4, op);
  for (const a of attributes) n.message(5, a);
  return n;
}

function intAttribute(name: string, value: number): Proto {
  // AttributeProto: name 1, i 3, type 20 (INT = 2).
  return new Proto().string(1, name).varint(3, value).varint(20, 2);
}

export interface ScanGraphOptions {
  /** The gallery, row-major [rows, dimension], unit rows. */
  gallery: Float32Array;
  rows: number;
  dimension: number;
}

/**
 * The model bytes: inputs `queries` float[B, D] and `k` int64[1]; outputs `scores` float[B, k] (best first) and
 * `indices` int64[B, k] (gallery rows). TopK puts the lower index first among equal scores (ONNX TopK, opset 11+),
 * as ExactIndex does.
 */
export function buildScanGraph({ gallery, rows, dimension }: ScanGraphOptions): Uint8Array {
  if (gallery.length !== rows * dimension) throw new RangeError(`gallery holds ${gallery.length} values, not ${rows} x ${dimension}`);
  // Gemm with transB: the gallery stays row-major [N, D] as the index holds it; ORT packs the constant once.
  const initializer = new Proto()
    .varint(1, rows)
    .varint(1, dimension)
    .varint(2, FLOAT)
    .string(8, 'gallery')
    .bytes(9, new Uint8Array(gallery.buffer, gallery.byteOffset, gallery.byteLength));
  const graph = new Proto()
    .message(1, node('Gemm', ['queries', 'gallery'], ['all_scores'], [intAttribute('transB', 1)]))
    .message(1, node('TopK', ['all_scores', 'k'], ['scores', 'indices'], [intAttribute('axis', 1), intAttribute('largest', 1), intAttribute('sorted', 1)]))
    .string(2, 'enfpire-exact-scan')
    .message(5, initializer)
    .message(11, valueInfo('queries', FLOAT, ['batch', dimension]))
    .message(11, valueInfo('k', INT64, [1]))
    .message(12, valueInfo('scores', FLOAT, ['batch', 'k_out']))
    .message(12, valueInfo('indices', INT64, ['batch', 'k_out']));
  return new Proto()
    .varint(1, 8) // ir_version
    .string(2, 'enfpire')
    .message(7, graph)
    .message(8, new Proto().string(1, '').varint(2, 13)) // opset_import: ai.onnx 13
    .finish();
}
