/**
 * The profile types are generated from the JSON schemas (scripts/gen-config.mjs, docs/decisions.md "One definition of
 * every setting"): the checked-in daemon/config/generated/ must be exactly what the generator writes now, so a schema
 * edited without `npm run gen:config` fails here.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

async function check(...args: string[]): Promise<{ code: number; stderr: string }> {
  return run(process.execPath, ['scripts/gen-config.mjs', '--check', ...args], { cwd: root }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
}

t.test('daemon/config/generated/ is what npm run gen:config writes from the schemas', async (t) => {
  const result = await check();
  t.equal(result.code, 0, result.stderr || 'up to date');
});

t.test('a schema changed without regenerating is caught', async (t) => {
  const dir = t.testdir();
  for (const kind of ['edge', 'recognizer']) copyFileSync(join(root, 'firmware-config', `${kind}.schema.json`), join(dir, `${kind}.schema.json`));
  const file = join(dir, 'edge.schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { properties: { privacy: { properties: Record<string, unknown> } } };
  schema.properties.privacy.properties.extra = { description: 'A setting the generated type lacks.', type: 'integer', default: 1 };
  writeFileSync(file, JSON.stringify(schema));
  const result = await check('--schemas', dir);
  t.equal(result.code, 1);
  t.match(result.stderr, /daemon\/config\/generated\/edge\.ts/);
  t.notMatch(result.stderr, /recognizer\.ts/, 'the unchanged schema is not reported');
});
