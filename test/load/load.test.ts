import t from 'tap';
import { runLoad } from '../../daemon/load/load-run.js';
import { sampleSpotsDir } from '../../daemon/util/paths.js';

// Small sizes: what is checked is correctness (the report's shape, no answer lost while a gallery update rolls
// through the group, every reply of the edition it names), never speed.
t.test('enfpire load: devices through a private Mosquitto against two recognizers, a gallery update rolled through them', async (t) => {
  const report = await runLoad({
    spots: 300,
    devices: 6,
    rate: 4,
    recognizers: 2,
    minutes: 0.35,
    warmupSeconds: 2,
    roll: true,
    poolSize: 60,
    regionSize: 100,
    photoDirs: [sampleSpotsDir],
    photoWindows: 300,
    cacheDir: t.testdir(),
  });
  // DESIGN §9's keys.
  for (const key of ['spots', 'devices', 'recognizers', 'offered_qps', 'achieved_qps', 'p50_ms', 'p99_ms', 'errors', 'component_recall', 'bytes_per_result']) {
    t.ok(key in report, `report has ${key}`);
  }
  t.equal(report.spots, 300);
  t.equal(report.devices, 6);
  t.equal(report.recognizers, 2);
  t.equal(report.offered_qps, 24);
  t.equal(report.gallery.real_spots, 300, 'every spot a window of a real photograph here');
  t.ok(report.sent > 0 && report.replies === report.sent, `every query answered (${report.replies} of ${report.sent})`);
  t.equal(report.errors, 0, 'no errors');
  t.equal(report.drops, 0, 'no drops');
  t.ok(report.p50_ms > 0 && report.p50_ms <= report.p99_ms);
  t.ok(report.component_recall >= 0 && report.component_recall <= 1);
  t.ok(report.bytes_per_result > 0);
  // Which process the cores went to (so a latency tail can be read against them); the roll replaced both recognizers.
  t.ok(report.cpu_cores_used.load_generator > 0, `the load generator's share: ${report.cpu_cores_used.load_generator}`);
  t.ok((report.cpu_cores_used.broker ?? 0) > 0, `the private broker's share: ${report.cpu_cores_used.broker}`);
  t.same(report.cpu_cores_used.recognizers, [null, null], 'a recognizer replaced by the roll has no share of its own');
  const delay = report.load_generator_loop_delay_ms;
  t.ok(delay.p50 > 0 && delay.p50 <= delay.p99 && delay.p99 <= delay.max, `loop delay p50 ≤ p99 ≤ max: ${JSON.stringify(delay)}`);
  t.ok(report.per_recognizer_queries.filter((q) => q > 0).length >= 2, `the group shares the queries: ${report.per_recognizer_queries.join(',')}`);
  const roll = report.roll!;
  t.ok(roll, 'the roll is reported');
  t.not(roll.from, roll.to, 'the new edition has another gallery version');
  t.ok((roll.replies_by_version[roll.from] ?? 0) > 0 && (roll.replies_by_version[roll.to] ?? 0) > 0, `both editions answered: ${JSON.stringify(roll.replies_by_version)}`);
  t.equal(roll.unknown_version_replies, 0, 'every reply names a known gallery version');
  t.equal(roll.mixed_version_replies, 0, "every reply's scores are the edition it names");
});
