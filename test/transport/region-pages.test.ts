/**
 * Region packs page by page (decision 68), through a real Mosquitto: the device joins the pages of a real Recognizer
 * into the pack it would have got whole, every page is a message of its own, pages from different galleries start the
 * fetch again, a page not answered in time is asked for again (three times at most), and a recognizer before paging
 * (which ignores the page) still serves its whole pack.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { startMosquitto } from '../helpers/mosquitto.js';
import { wiretap } from '../helpers/edge-rig.js';
import { Recognizer } from '../../daemon/recognizer/recognizer.js';
import { ExactIndex } from '../../daemon/recognizer/spot-index.js';
import { SpotStore } from '../../daemon/recognizer/spot-store.js';
import { RecognitionClient, RegionPagesMixedError, RequestTimeoutError } from '../../daemon/transport/recognition-client.js';
import { RecognizerEndpoint, type RecognizerHandler } from '../../daemon/transport/recognizer-endpoint.js';
import type { RegionPackMessage } from '../../daemon/transport/messages.js';
import { GalleryHandler, MODEL, limits, makeSpots, recordingLogger, vectors } from './fixtures.js';

const broker = await startMosquitto();
t.teardown(() => broker.stop());

/** A real recognizer over `count` spots of the fixtures' dimension, serving pages of `pageSpots`. */
function recognizer(t: Test, count: number, pageSpots: number): Recognizer {
  const store = SpotStore.create(join(t.testdir(), 'gallery.db'), { model: MODEL, dimension: limits.dimension });
  t.teardown(() => store.close());
  store.putAll(vectors(count, 3).map((feature, i) => ({ id: `spot-${i}`, feature, region: 'north', x: i, y: 0, popularity: 1, info: { name: `Spot ${i}` } })));
  return new Recognizer(store, new ExactIndex(store.all()), { regionPageSpots: pageSpots });
}

async function serve(t: Test, handler: RecognizerHandler) {
  const ep = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler, logger: recordingLogger().logger });
  await ep.start();
  t.teardown(() => ep.stop());
}

async function device(t: Test) {
  const c = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 2000, infoWaitMs: 500 });
  await c.start();
  t.teardown(() => c.stop());
  return c;
}

t.test('the pages join into the whole pack, each one a message of its own', async (t) => {
  const served = recognizer(t, 23, 5);
  await serve(t, served);
  const tap = await wiretap(broker.url);
  t.teardown(() => tap.end());
  const pack = await (await device(t)).fetchRegion('*');
  const whole = served.handleRegion({ type: 'region-request', model: MODEL, region: '*' }) as RegionPackMessage;
  t.same(pack.spots.map((s) => s.id), whole.spots.map((s) => s.id), 'every spot, in the recognizer\'s order');
  t.same(pack.spots[22].info, whole.spots[22].info, 'with its service information');
  t.equal(pack.galleryVersion, whole.galleryVersion);
  t.notOk('pages' in pack, 'the joined pack is a whole pack');
  t.equal(tap.seen.filter((m) => m.topic.includes('region')).length, 5, 'five requests for 23 spots at 5 a page');
});

t.test('pages from different galleries start the fetch again; galleries that never agree are an error', async (t) => {
  const served = recognizer(t, 12, 5);
  // A group of recognizers being updated: the gallery version, and the announcement with it, changes between pages.
  let version = 'v1';
  let requests = 0;
  let changeAt = new Set([2]);
  const updating: RecognizerHandler = {
    query: (q) => served.query(q),
    info: () => ({ ...served.info(), galleryVersion: version }),
    region: async (r) => {
      requests++;
      if (changeAt.has(requests)) {
        version = version === 'v1' ? 'v2' : 'v1';
        await ep.publishInfo();
      }
      const answer = served.region(r);
      return answer.type === 'region-pack' ? { ...answer, galleryVersion: version } : answer;
    },
  };
  const ep = new RecognizerEndpoint({ group: 'recognizers', url: broker.url, limits, handler: updating, logger: recordingLogger().logger });
  await ep.start();
  t.teardown(() => ep.stop());
  const c = await device(t);
  const pack = await c.fetchRegion('*');
  t.equal(pack.spots.length, 12, 'the second fetch is whole');
  t.equal(pack.galleryVersion, 'v2', 'and of the new gallery');
  t.equal(requests, 2 + 3, 'two pages of the first fetch, three of the second');
  changeAt = new Set(Array.from({ length: 20 }, (_, i) => requests + 2 + i));
  await t.rejects(c.fetchRegion('*'), RegionPagesMixedError, 'a gallery that changes at every page is refused');
  t.equal(requests, 5 + 3 * 2, 'after three fetches');
});

t.test('a recognizer before paging answers the whole pack to the first request', async (t) => {
  const old = new GalleryHandler(makeSpots(9));
  await serve(t, old);
  const pack = await (await device(t)).fetchRegion('*');
  t.equal(pack.spots.length, 9);
});

t.test('a page nobody answered in time is asked for again, not the pack from its first page', async (t) => {
  const served = recognizer(t, 23, 5);
  const asked: number[] = [];
  let dropped = 0;
  const dropping: RecognizerHandler = {
    query: (q) => served.query(q),
    info: () => served.info(),
    region: async (r) => {
      asked.push(r.page ?? -1);
      // The first answer to page 2 is lost on the way (it comes after the device stopped waiting for it).
      if (r.page === 2 && dropped++ === 0) await new Promise((resolve) => setTimeout(resolve, 1_500));
      return served.region(r);
    },
  };
  await serve(t, dropping);
  const c = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 600, regionTimeoutMs: 600, infoWaitMs: 500 });
  await c.start();
  t.teardown(() => c.stop());
  const pack = await c.fetchRegion('*');
  const whole = served.handleRegion({ type: 'region-request', model: MODEL, region: '*' }) as RegionPackMessage;
  t.same(pack.spots.map((s) => s.id), whole.spots.map((s) => s.id), 'the whole pack, in order');
  t.same(asked, [0, 1, 2, 2, 3, 4], 'page 2 asked for twice, page 0 once');

});

t.test('a page never answered in time ends the fetch after three requests for it', async (t) => {
  const served = recognizer(t, 12, 5);
  const asked: number[] = [];
  await serve(t, {
    query: (q) => served.query(q),
    info: () => served.info(),
    region: async (r) => {
      asked.push(r.page ?? -1);
      if (r.page === 1) await new Promise((resolve) => setTimeout(resolve, 900));
      return served.region(r);
    },
  });
  const c = new RecognitionClient({ url: broker.url, limits, model: MODEL, requestTimeoutMs: 300, regionTimeoutMs: 300, infoWaitMs: 500 });
  await c.start();
  t.teardown(() => c.stop());
  await t.rejects(c.fetchRegion('*'), RequestTimeoutError);
  t.same(asked, [0, 1, 1, 1], 'page 1 three times, and nothing after it');
  // Let the late answers arrive before the recognizer stops.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
});
