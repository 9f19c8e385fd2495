/**
 * A device that cannot start (here: no recognizer serves the broker and no region pack is cached) must fail with one
 * clear sentence and leave nothing running: before, its broker connection stayed open and the process lived on until
 * systemd's start timeout killed it.
 */
import t from 'tap';
import { startEdge } from '../helpers/edge-rig.js';
import { startMosquitto } from '../helpers/mosquitto.js';

t.test('a failed start stops what had started: the broker sees the device disconnect', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  await t.rejects(startEdge(t.testdir(), broker.url, { transport: { requestTimeoutMs: 300 } }), /could not fetch region pack .* and none is cached/);
  // Client ids that connected, and those whose connection the broker saw end.
  const connected = (log: string) => [...log.matchAll(/New client connected from \S+ as (\S+)/g)].map((m) => m[1]);
  const ended = (log: string) => new Set([...log.matchAll(/Client (\S+) (?:closed its connection|disconnected)/g)].map((m) => m[1]));
  const ids = connected(await broker.log());
  t.ok(ids.length >= 1, 'the device had connected');
  // The broker writes its log as it goes: read it until every connection is closed, or 5 s.
  let closed = false;
  for (const deadline = Date.now() + 5_000; !closed && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const now = await broker.log();
    const gone = ended(now);
    closed = connected(now).every((id) => gone.has(id));
  }
  t.ok(closed, `every connection was closed (broker log:\n${await broker.log()})`);
});
