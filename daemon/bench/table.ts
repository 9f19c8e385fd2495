import type { BenchReport } from './run-bench.js';

/** The human summary of a report: a few aligned lines, the JSON file has everything. */
export function formatBenchTable(report: BenchReport): string {
  const { extractor: e, camera, recognizer: r, memory: m } = report;
  const rows: string[][] = [['stage', 'mean', 'p50', 'p99', 'rate', 'note']];
  rows.push(['ORT inference (bare)', ms(e.inference.mean_ms), ms(e.inference.p50_ms), ms(e.inference.p99_ms), `${e.inference.fps} fps`, `model ${e.model.id} on ${e.model.provider}`]);
  for (const [kind, k] of Object.entries(e.inputs)) {
    const verdict = k.target_met ? 'meets' : 'misses';
    rows.push([
      `extractor ${kind} ${k.width}x${k.height}`,
      ms(k.pipeline.mean_ms),
      ms(k.pipeline.p50_ms),
      ms(k.pipeline.p99_ms),
      `${k.fps} fps`,
      `${k.pipeline_over_decode_plus_inference}x decode + inference (${verdict} ≤ ${e.target_pipeline_over_decode_plus_inference}); ${k.pipeline_over_inference}x inference; preprocess ${Math.round(k.preprocess_share * 100)} %`,
    ]);
    rows.push([`  decode floor ${kind}`, ms(k.decode.mean_ms), ms(k.decode.p50_ms), ms(k.decode.p99_ms), '', 'bare sharp to the model size']);
  }
  for (const [kind, c] of Object.entries(camera)) {
    rows.push([`camera ${kind}`, '', '', '', `${c.fps} fps`, `${c.frames} frames, ${c.dropped} dropped`]);
  }
  for (const kind of ['exact', 'hnsw'] as const) {
    const x = r[kind];
    const note = kind === 'hnsw' ? `${r.hnsw_speedup}x exact, recall@10 ${r.hnsw_recall_at_10}` : `${r.gallery} spots, ${r.dimension}-d, top ${r.top_m}`;
    rows.push([`recognizer ${kind}`, us(x.mean_us), us(x.p50_us), us(x.p99_us), `${x.qps} q/s`, note]);
  }
  for (const x of report.recognizer_scale) {
    for (const kind of ['exact', 'hnsw'] as const) {
      const i = x[kind];
      const note =
        kind === 'hnsw'
          ? `${x.hnsw_speedup}x exact, component recall ${x.recall.component_recall}, ${x.bytes_per_result} B/result`
          : `${x.spots} spots (${x.real_spots} photo windows), top ${x.top_m_mean} mean`;
      rows.push([`recognizer ${kind} ${x.spots}`, us(i.mean_us), us(i.p50_us), us(i.p99_us), `${i.qps} q/s`, note]);
    }
    // The batched scans (decisions 31, 32): the best batch size and the latency at the offered rate without a wait.
    for (const [kind, o] of [
      ['exact-onnx', x.exact_onnx],
      ['int8-onnx', x.int8_onnx],
    ] as const) {
      const best = o.throughput.reduce((a, b) => (b.qps > a.qps ? b : a));
      const open = o.latency.wait_0ms;
      rows.push([
        `recognizer ${kind} ${x.spots}`,
        '',
        open ? `${open.p50_ms} ms` : '',
        open ? `${open.p99_ms} ms` : '',
        `${best.qps} q/s`,
        `batch ${best.batch}, ${best.threads} thread(s): ${best.over_hnsw}x hnsw, component recall ${o.component_recall}` +
          `; backlog ${o.sustained.main_qps} / ${o.sustained.worker_qps} q/s (scan on main / worker)` +
          (open ? `; p50/p99 at ${open.offered_qps} q/s offered` : ''),
      ]);
    }
  }
  rows.push([
    'edge memory (RSS)',
    '',
    '',
    '',
    '',
    `${m.rss_before_mb} -> ${m.rss_half_mb} -> ${m.rss_after_mb} MB over ${m.frames} frames (2nd half ${signed(m.rss_growth_second_half_mb)} MB)`,
  ]);
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => row[col].length)));
  const lines = rows.map((row) => row.map((cell, col) => (col === 0 || col === row.length - 1 ? cell.padEnd(widths[col]) : cell.padStart(widths[col]))).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return `${lines.join('\n')}\n`;
}

const ms = (x: number): string => `${x} ms`;
const us = (x: number): string => `${x} µs`;
const signed = (x: number): string => (x >= 0 ? `+${x}` : `${x}`);
