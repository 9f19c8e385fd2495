import t from 'tap';
import { FrameMailbox } from '../../daemon/camera/mailbox.js';
import type { Frame } from '../../daemon/camera/types.js';

const frame = (seq: number): Frame => ({ data: Buffer.from([seq]), format: 'encoded', seq, capturedAt: Date.now() });

t.test('take() waits for the next frame', async (t) => {
  const box = new FrameMailbox();
  const pending = box.take();
  box.put(frame(1));
  t.equal((await pending)?.seq, 1);
  t.same(box.stats(), { produced: 1, dropped: 0 });
});

t.test('a frame nobody took is overwritten and counted as dropped, never queued', async (t) => {
  const box = new FrameMailbox();
  box.put(frame(1));
  box.put(frame(2));
  box.put(frame(3));
  t.equal((await box.take())?.seq, 3, 'the newest frame wins');
  t.same(box.stats(), { produced: 3, dropped: 2 });

  // Once taken, a frame is not handed out again: the next take waits for a new one.
  let settled = false;
  const next = box.take().then((f) => {
    settled = true;
    return f;
  });
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(settled, 'take() waits instead of repeating a frame');
  box.put(frame(4));
  t.equal((await next)?.seq, 4);
  t.equal(box.stats().dropped, 2, 'a taken frame is not a drop');
});

t.test('close() resolves pending and future takes with null and discards the held frame', async (t) => {
  const box = new FrameMailbox();
  const pending = [box.take(), box.take()];
  box.close();
  t.same(await Promise.all(pending), [null, null]);
  box.put(frame(1));
  t.equal(await box.take(), null);
  t.equal(box.stats().produced, 0, 'frames after close are ignored');

  const held = new FrameMailbox();
  held.put(frame(1));
  held.close();
  t.equal(await held.take(), null);
});

t.test('end() lets the held frame be taken, then takes resolve null', async (t) => {
  const box = new FrameMailbox();
  box.put(frame(7));
  box.end();
  t.equal((await box.take())?.seq, 7);
  t.equal(await box.take(), null);

  const waiting = new FrameMailbox();
  const pending = waiting.take();
  waiting.end();
  t.equal(await pending, null, 'a waiting consumer is released when nothing is held');
});
