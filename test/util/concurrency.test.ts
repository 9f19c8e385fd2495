import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachConcurrently, mapInOrder } from '../../daemon/util/concurrency.js';

t.test('forEachConcurrently runs every item, never more than the limit at once', async (t) => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await forEachConcurrently([5, 1, 4, 2, 3, 0, 2], 3, async (ms, i) => {
    most = Math.max(most, ++running);
    await sleep(ms);
    seen.push(i);
    running--;
  });
  t.same([...seen].sort(), [0, 1, 2, 3, 4, 5, 6]);
  t.equal(most, 3);
  await t.rejects(forEachConcurrently([1], 0, async () => {}), RangeError);
});

t.test('forEachConcurrently stops handing out items after a failure and rejects with it', async (t) => {
  const begun: number[] = [];
  await t.rejects(
    forEachConcurrently([0, 1, 2, 3, 4, 5], 2, async (_, i) => {
      begun.push(i);
      await sleep(1);
      if (i === 1) throw new Error('item 1 broke');
    }),
    { message: 'item 1 broke' },
  );
  t.ok(begun.length < 6, `items after the failure were skipped (began ${begun.join(', ')})`);
});

t.test('mapInOrder hands results over in the items\' order whatever order they finish in', async (t) => {
  const delays = [9, 1, 6, 0, 3, 8, 2, 2, 5, 0, 7, 1];
  const out: [number, number][] = [];
  await mapInOrder(delays, 4, async (ms, i) => {
    await sleep(ms);
    return i * 10;
  }, async (value, i) => {
    await sleep(1); // a slow sink must not let a later result overtake
    out.push([i, value]);
  });
  t.same(out, delays.map((_, i) => [i, i * 10]));
});

t.test('mapInOrder does not run far ahead of an item that is slow to finish', async (t) => {
  let highest = -1;
  let aheadWhileFirstRan = 0;
  let firstDone = false;
  await mapInOrder(Array.from({ length: 40 }, (_, i) => i), 2, async (i) => {
    highest = Math.max(highest, i);
    if (!firstDone && i > 0) aheadWhileFirstRan = Math.max(aheadWhileFirstRan, i);
    if (i === 0) {
      await sleep(30);
      firstDone = true;
    }
    return i;
  }, () => {});
  t.equal(highest, 39);
  t.ok(aheadWhileFirstRan < 8, `no item began 4 × limit ahead of the unfinished first (reached ${aheadWhileFirstRan})`);
  t.ok(aheadWhileFirstRan >= 2, 'but others went on while it ran');
});

t.test('mapInOrder rejects with a failing task or sink', async (t) => {
  await t.rejects(mapInOrder([1, 2, 3], 2, async (x) => {
    if (x === 2) throw new Error('task 2 broke');
    return x;
  }, () => {}), { message: 'task 2 broke' });
  await t.rejects(mapInOrder([1, 2, 3], 2, async (x) => x, (x) => {
    if (x === 1) throw new Error('sink broke');
  }), { message: 'sink broke' });
});
