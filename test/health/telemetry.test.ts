import t, { type Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeThrottled, parseThrottled, SystemTelemetry } from '../../daemon/health/telemetry.js';
import { LatencyTracker, LatencyWindow } from '../../daemon/health/latency.js';
import { EventEmitter } from 'node:events';

function numberOrNull(t: Test, value: unknown, name: string, reasons: Record<string, string>): void {
  if (value === null) t.type(reasons[name], 'string', `${name} is null with a reason`);
  else t.ok(typeof value === 'number' && Number.isFinite(value), `${name} is a finite number`);
}

t.test('on this machine every reading is a number or null with a reason, never an exception', async (t) => {
  const telemetry = new SystemTelemetry({ intervalMs: 60_000 });
  const seen: unknown[] = [];
  telemetry.on('sample', (s) => seen.push(s));
  await telemetry.start();
  const s = telemetry.latest();
  await telemetry.stop();
  t.ok(s, 'a sample after start()');
  if (!s) return;
  t.equal(seen.length, 1, "one 'sample' event");
  numberOrNull(t, s.cpuTemperatureC, 'cpuTemperatureC', s.unavailable);
  numberOrNull(t, s.cpuPercent, 'cpuPercent', s.unavailable);
  t.equal(s.loadAverage.length, 3);
  for (const l of s.loadAverage) t.ok(Number.isFinite(l) && l >= 0);
  t.ok(s.memory && s.memory.totalBytes > 0 && s.memory.availableBytes <= s.memory.totalBytes, 'memory on Linux');
  t.ok(s.processRssBytes > 1_000_000, 'the process uses some memory');
  if (s.throttling === null) t.type(s.unavailable.throttling, 'string', 'no throttling interface, with a reason');
  t.ok(Math.abs(s.at - Date.now()) < 10_000);
});

t.test('Raspberry Pi throttling and thermal zones are read from their sysfs files', async (t) => {
  const dir = t.testdir();
  const zones = join(dir, 'thermal');
  for (const [name, type, milli] of [['thermal_zone0', 'CPU-therm', '71500'], ['thermal_zone1', 'GPU-therm', '66000'], ['thermal_zone2', 'broken', 'x']]) {
    mkdirSync(join(zones, name), { recursive: true });
    writeFileSync(join(zones, name, 'type'), `${type}\n`);
    writeFileSync(join(zones, name, 'temp'), `${milli}\n`);
  }
  writeFileSync(join(dir, 'get_throttled'), '50005\n');
  const telemetry = new SystemTelemetry({ thermalDir: zones, throttledFile: join(dir, 'get_throttled'), vcgencmd: '' });
  const s = await telemetry.sample();
  t.same(s.thermalZones, [{ type: 'CPU-therm', tempC: 71.5 }, { type: 'GPU-therm', tempC: 66 }], 'unreadable zones are skipped');
  if (s.unavailable.cpuTemperatureC === undefined && s.cpuTemperatureC !== 71.5) {
    t.pass('systeminformation reported its own CPU sensor, which takes precedence');
  } else {
    t.equal(s.cpuTemperatureC, 71.5, 'CPU temperature from the CPU zone when no other sensor reports one');
  }
  t.equal(s.throttling?.source, 'sysfs');
  t.equal(s.throttling?.raw, 0x50005);
  t.same(s.throttling?.now, { underVoltage: true, frequencyCapped: false, throttled: true, softTemperatureLimit: false });
  t.same(s.throttling?.sinceBoot, { underVoltage: true, frequencyCapped: false, throttled: true, softTemperatureLimit: false });
});

t.test('a vcgencmd that fails falls back to sysfs; both missing is null with a reason', async (t) => {
  const dir = t.testdir({ get_throttled: '0x4\n' });
  const withFile = await new SystemTelemetry({ throttledFile: join(dir, 'get_throttled'), vcgencmd: join(dir, 'missing-vcgencmd') }).sample();
  t.equal(withFile.throttling?.raw, 4);
  t.equal(withFile.throttling?.now.throttled, true);
  const none = await new SystemTelemetry({ throttledFile: join(dir, 'nope'), thermalDir: join(dir, 'nope'), vcgencmd: '' }).sample();
  t.equal(none.throttling, null);
  t.match(none.unavailable.throttling, /throttling/);
  t.same(none.thermalZones, []);
  t.type(none.unavailable.thermalZones, 'string');
});

t.test('get_throttled parsing', async (t) => {
  t.equal(parseThrottled('throttled=0x50000\n'), 0x50000);
  t.equal(parseThrottled('0'), 0);
  t.equal(parseThrottled('garbage!'), null);
  const state = decodeThrottled(0x80008, 'vcgencmd');
  t.equal(state.now.softTemperatureLimit, true);
  t.equal(state.sinceBoot.softTemperatureLimit, true);
  t.equal(state.now.underVoltage, false);
});

t.test('latency percentiles over a sliding window', async (t) => {
  const w = new LatencyWindow(100);
  t.same(w.summary(), { count: 0, p50: null, p95: null, p99: null, max: null });
  for (let i = 100; i >= 1; i--) w.record(i);
  t.same(w.summary(), { count: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  for (let i = 0; i < 100; i++) w.record(1000 + i);
  t.same(w.summary(), { count: 100, p50: 1049, p95: 1094, p99: 1098, max: 1099 }, 'old samples left the window');
  w.record(Number.NaN);
  w.record(-5);
  t.equal(w.summary().count, 100, 'non-finite and negative samples are ignored');
});

t.test('the tracker splits cache hits from queried results', async (t) => {
  const pipeline = new EventEmitter();
  const tracker = new LatencyTracker(pipeline, 10);
  tracker.start();
  pipeline.emit('result', { latencyMs: 5, fromCache: true });
  pipeline.emit('result', { latencyMs: 300, fromCache: false });
  pipeline.emit('result', { latencyMs: 500, fromCache: false });
  tracker.stop();
  pipeline.emit('result', { latencyMs: 9999, fromCache: false });
  const s = tracker.summary();
  t.equal(s.all.count, 3);
  t.equal(s.cached.p50, 5);
  t.equal(s.queried.p50, 300);
  t.equal(s.queried.max, 500);
});
