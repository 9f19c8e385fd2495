import t from 'tap';
import { probeProcess } from '../../daemon/soak/probe.js';

t.test('probeProcess reads a live process and says null for one that is gone', async (t) => {
  const before = probeProcess(process.pid);
  t.ok((before.rssBytes ?? 0) > 0 && (before.peakRssBytes ?? 0) >= (before.rssBytes ?? 0), 'resident memory and its peak');
  t.ok((before.fds ?? 0) > 0, 'open files');
  t.ok(before.cpuSeconds !== null && before.cpuSeconds >= 0, `CPU time so far: ${before.cpuSeconds} s`);
  // Burn 300 ms of this process's own CPU time (not wall time: a loaded machine gives less), well past the 10 ms
  // tick of /proc's counters, and compare with what the kernel's own count of it says.
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user < 300_000) for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + 1);
  const used = process.cpuUsage(start);
  const after = probeProcess(process.pid);
  const grown = after.cpuSeconds! - before.cpuSeconds!;
  t.ok(Math.abs(grown - (used.user + used.system) / 1e6) < 0.05, `CPU time grew by ${grown} s, as process.cpuUsage says (x ${x > 0})`);
  t.same(probeProcess(undefined), { rssBytes: null, peakRssBytes: null, fds: null, cpuSeconds: null });
  t.same(probeProcess(2 ** 22 + 1), { rssBytes: null, peakRssBytes: null, fds: null, cpuSeconds: null }, 'no such process');
});
