import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listSpotPhotos, loadSpotMetadata } from '../../daemon/util/spots-dir.js';
import { UserError } from '../../daemon/util/errors.js';

async function touch(path: string, text = 'x'): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
}

t.test('flat layout: one image per spot, id = file stem, non-images ignored', async (t) => {
  const dir = t.testdir();
  for (const name of ['b.png', 'a.jpg', 'c.webp', 'd.jpeg', 'E.JPG', 'notes.txt', 'spots.json', '.hidden.jpg']) {
    await touch(join(dir, name));
  }
  const spots = await listSpotPhotos(dir);
  t.same(
    spots,
    [
      { id: 'E', files: [join(dir, 'E.JPG')] },
      { id: 'a', files: [join(dir, 'a.jpg')] },
      { id: 'b', files: [join(dir, 'b.png')] },
      { id: 'c', files: [join(dir, 'c.webp')] },
      { id: 'd', files: [join(dir, 'd.jpeg')] },
    ],
    'code-point order, upper case extensions accepted',
  );
});

t.test('sub-folder layout: one folder per spot, files sorted', async (t) => {
  const dir = t.testdir();
  for (const name of ['tower/2.png', 'tower/10.jpg', 'tower/readme.md', 'bridge/front.webp', 'bridge/sub/deep.jpg']) {
    await touch(join(dir, name));
  }
  const spots = await listSpotPhotos(dir);
  t.same(spots, [
    { id: 'bridge', files: [join(dir, 'bridge', 'front.webp')] },
    { id: 'tower', files: [join(dir, 'tower', '10.jpg'), join(dir, 'tower', '2.png')] },
  ]);
  t.same(await listSpotPhotos(dir), spots, 'deterministic');
});

t.test('bad folders are UserErrors naming the path and the expected layout', async (t) => {
  const dir = t.testdir({ empty: {}, nophotos: { 'a.txt': 'x' }, holey: { ok: { '1.jpg': 'x' }, blank: { 'x.txt': 'x' } } });
  const missing = join(dir, 'missing');
  await t.rejects(listSpotPhotos(missing), { name: 'UserError', message: new RegExp(`${missing}.*does not exist.*one image per spot`) });
  await t.rejects(listSpotPhotos(join(dir, 'empty')), { name: 'UserError', message: /empty holds no spot photos; expected/ });
  await t.rejects(listSpotPhotos(join(dir, 'nophotos')), UserError);
  await t.rejects(listSpotPhotos(join(dir, 'holey')), { message: new RegExp(`${join(dir, 'holey', 'blank')} holds no images`) });
  await t.rejects(listSpotPhotos(join(dir, 'nophotos', 'a.txt')), { message: /is not a folder/ });
});

t.test('the same id twice (a.jpg and a/) is refused', async (t) => {
  const dir = t.testdir({ 'a.jpg': 'x', a: { '1.jpg': 'x' } });
  await t.rejects(listSpotPhotos(dir), { name: 'UserError', message: /Spot 'a' appears twice/ });
});

t.test('spots.json: optional, validated, extra keys kept', async (t) => {
  const dir = t.testdir({ 'a.jpg': 'x' });
  t.same([...(await loadSpotMetadata(dir))], [], 'no spots.json means no metadata');

  await writeFile(
    join(dir, 'spots.json'),
    JSON.stringify({
      a: { name: 'Clock tower', description: 'Old', url: 'https://x.test/a', x: 10, y: -5, popularity: 2.5, region: 'old-town', hours: '9-5', tags: ['a'] },
      b: {},
    }),
  );
  const meta = await loadSpotMetadata(dir);
  t.same(meta.get('a'), {
    name: 'Clock tower',
    description: 'Old',
    url: 'https://x.test/a',
    region: 'old-town',
    x: 10,
    y: -5,
    popularity: 2.5,
    extra: { hours: '9-5', tags: ['a'] },
  });
  t.same(meta.get('b'), { extra: {} });
});

t.test('spots.json errors name the file, the spot and the field', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'spots.json');
  const cases: [string, RegExp][] = [
    ['{ "a": { "name": "x", }', /spots\.json is not valid JSON/],
    ['[1, 2]', /must be a JSON object keyed by spot id/],
    ['{ "a": 3 }', /"a" must be an object/],
    ['{ "a": { "name": 3 } }', /"a"\.name must be a non-empty string/],
    ['{ "a": { "x": 1 } }', /"a" gives only one of x and y/],
    ['{ "a": { "x": "1", "y": 2 } }', /"a"\.x must be a number/],
    ['{ "a": { "popularity": 0 } }', /"a"\.popularity must be a number greater than 0/],
    ['{ "a": { "region": "*" } }', /"a"\.region may not be '\*'/],
  ];
  for (const [text, message] of cases) {
    await writeFile(file, text);
    await t.rejects(loadSpotMetadata(dir), { name: 'UserError', message }, text);
    await t.rejects(loadSpotMetadata(dir), { message: new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) });
  }
});
