/**
 * The systemd units and scripts/install.sh, checked with systemd's own tools and a real install into a temp folder.
 *
 * `systemd-analyze verify` refuses a unit whose ExecStart= binary is missing, and /usr/bin/node is not where every
 * CI machine keeps Node. So each unit is verified as a copy whose ExecStart= differs from the shipped one in exactly
 * two places — the Node binary running this test and this checkout instead of /opt/enfpire — and the test first
 * asserts that the shipped line has that exact shape, so nothing else is rewritten away. That the installed layout
 * really has the files the units name (/opt/enfpire/bin/enfpire.js, /etc/enfpire/edge.yaml, the credential
 * sources, the state folder) is checked separately on a real `install.sh --root` run.
 */
import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../daemon/util/paths.js';

const UNITS = ['enfpire-edge.service', 'enfpire-recognizer.service'] as const;
const MAX_EXPOSURE = 2.0;
const unitDir = join(packageRoot, 'systemd');
const installScript = join(packageRoot, 'scripts', 'install.sh');
const SHIPPED_EXEC = /^ExecStart=\/usr\/bin\/node \/opt\/enfpire\/(bin\/enfpire\.js .*)$/m;

const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).error === undefined;
const noAnalyze = hasAnalyze ? false : 'systemd-analyze is not installed (Debian: apt-get install systemd; .ci/run does it)';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 16 * 1024 * 1024, timeout: 240_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The shipped unit with ExecStart= pointing at this test's Node and this checkout (see the file comment). */
function runnableCopy(text: string, programRoot: string): string {
  return text.replace(SHIPPED_EXEC, (_line, rest: string) => `ExecStart=${process.execPath} ${programRoot}/${rest}`);
}

/** Lines of `systemd-analyze verify` about this unit (unknown keys, bad values, missing binaries). */
async function verify(path: string): Promise<{ code: number; complaints: string[] }> {
  const name = path.split('/').pop() as string;
  const { code, stdout, stderr } = await exec('systemd-analyze', ['verify', '--man=no', '--recursive-errors=no', path]);
  const complaints = `${stdout}\n${stderr}`.split('\n').filter((line) => line.includes(name) || line.includes('jetson.conf'));
  return { code, complaints };
}

async function exposure(path: string): Promise<number> {
  const { stdout, stderr } = await exec('systemd-analyze', ['security', '--offline=true', '--no-pager', path]);
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(`${stdout}\n${stderr}`);
  if (!match) throw new Error(`no "Overall exposure level" line from systemd-analyze security for ${path}:\n${stdout}${stderr}`);
  return Number(match[1]);
}

/** A folder holding the unit copy, plus the Jetson drop-in beside it when asked. */
async function unitCopy(t: Test, unit: string, withJetson = false): Promise<string> {
  const dir = await tempDir(t, 'enfpire-unit-');
  const text = await readFile(join(unitDir, unit), 'utf8');
  const path = join(dir, unit);
  await writeFile(path, runnableCopy(text, packageRoot));
  if (withJetson) {
    await mkdir(join(dir, `${unit}.d`));
    await copyFile(join(unitDir, 'jetson.conf'), join(dir, `${unit}.d`, 'jetson.conf'));
  }
  return path;
}

t.test('each shipped unit runs node on /opt/enfpire/bin/enfpire.js with a profile in /etc/enfpire', async (t) => {
  for (const unit of UNITS) {
    const text = await readFile(join(unitDir, unit), 'utf8');
    const match = SHIPPED_EXEC.exec(text);
    t.ok(match, `${unit}: ExecStart=/usr/bin/node /opt/enfpire/bin/enfpire.js …`);
    const kind = unit === 'enfpire-edge.service' ? 'edge' : 'recognizer';
    t.equal(match?.[1], `bin/enfpire.js ${kind} --config /etc/enfpire/${kind}.yaml`, `${unit}: runs '${kind}'`);
    t.ok(existsSync(join(packageRoot, 'bin', 'enfpire.js')), 'the program the copy runs exists in this checkout');
  }
});

t.test('systemd-analyze verify accepts both units and the Jetson drop-in', { skip: noAnalyze }, async (t) => {
  for (const [unit, jetson] of [...UNITS.map((u) => [u, false] as const), ['enfpire-edge.service', true] as const]) {
    const { code, complaints } = await verify(await unitCopy(t, unit, jetson));
    t.equal(code, 0, `${unit}${jetson ? ' + jetson.conf' : ''}: exit status`);
    t.same(complaints, [], `${unit}${jetson ? ' + jetson.conf' : ''}: no warnings`);
  }
});

t.test('the verify check notices a misspelt key and a missing binary (it can fail)', { skip: noAnalyze }, async (t) => {
  const dir = await tempDir(t, 'enfpire-unit-');
  const text = runnableCopy(await readFile(join(unitDir, 'enfpire-edge.service'), 'utf8'), packageRoot);
  const misspelt = join(dir, 'enfpire-edge.service');
  await writeFile(misspelt, text.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
  t.match((await verify(misspelt)).complaints.join('\n'), /ProtectSytem/);
  await writeFile(misspelt, text.replace(process.execPath, '/nonexistent/node'));
  t.not((await verify(misspelt)).code, 0);
});

t.test(`systemd-analyze security rates each unit at most ${MAX_EXPOSURE}`, { skip: noAnalyze }, async (t) => {
  for (const [unit, jetson] of [...UNITS.map((u) => [u, false] as const), ['enfpire-edge.service', true] as const]) {
    const level = await exposure(await unitCopy(t, unit, jetson));
    t.comment(`${unit}${jetson ? ' + jetson.conf' : ''}: overall exposure ${level}`);
    t.ok(level <= MAX_EXPOSURE, `${unit}${jetson ? ' + jetson.conf' : ''}: exposure ${level} <= ${MAX_EXPOSURE}`);
  }
});

/**
 * PATH with stand-ins for every command that would touch the real system; each records its call. An install with
 * --root must never run them, whatever the machine (CI runs as root, with systemctl present).
 */
async function guardedEnv(t: Test): Promise<{ env: NodeJS.ProcessEnv; calls: string }> {
  const bin = await tempDir(t, 'enfpire-guard-');
  const calls = join(bin, 'calls.log');
  for (const tool of ['systemctl', 'useradd', 'groupadd', 'usermod', 'chown']) {
    await writeFile(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${calls}'\nexit 1\n`);
    await chmod(join(bin, tool), 0o755);
  }
  return { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, calls };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String);
}

t.test('install.sh --dry-run prints the plan and changes nothing', async (t) => {
  const root = await tempDir(t, 'enfpire root '); // a space: every path must be quoted
  const { env, calls } = await guardedEnv(t);
  const { code, stdout, stderr } = await exec(installScript, ['--root', root, '--dry-run', '--profile', 'dev-files'], env);
  t.equal(code, 0, stderr);
  t.same(filesUnder(root), [], 'nothing written');
  t.notOk(existsSync(calls), 'no system command run');
  const printed = stdout.replace(/\\ /g, ' '); // printf %q escapes the space
  for (const target of ['/opt/enfpire.new', '/etc/systemd/system/enfpire-edge.service', '/etc/enfpire/credentials/broker-password']) {
    t.ok(printed.includes(`${root}${target}`), `plans ${target}`);
  }
  t.match(stdout, /config check/);
  t.notMatch(stdout, /^\+ systemctl/m);
});

t.test('install.sh refuses an unknown profile and an old Node with one clear line', async (t) => {
  const root = await tempDir(t, 'enfpire-root-');
  const unknown = await exec(installScript, ['--root', root, '--profile', 'no-such-device']);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /^install: no profile firmware-config\/no-such-device\.yaml; choose one of: .*dev-files/);

  const { env } = await guardedEnv(t);
  const fakeBin = await tempDir(t, 'enfpire-node18-');
  await writeFile(join(fakeBin, 'node'), '#!/bin/sh\ncase "$1" in -p) echo 18;; *) echo v18.19.0;; esac\n');
  await chmod(join(fakeBin, 'node'), 0o755);
  const old = await exec(installScript, ['--root', root, '--profile', 'dev-files'], { ...env, PATH: `${fakeBin}:${env.PATH}` });
  t.equal(old.code, 1);
  t.match(old.stderr, /Node\.js 20 or newer is required, found v18\.19\.0/);
  t.same(filesUnder(root), []);
});

t.test('install.sh --root lays out what the units expect, and a second run keeps the operator\'s files', async (t) => {
  const root = await tempDir(t, 'enfpire root ');
  const { env, calls } = await guardedEnv(t);
  const secret = join(await tempDir(t, 'enfpire-secret-'), 'password');
  await writeFile(secret, 'correct horse\n');
  const args = ['--root', root, '--profile', 'dev-files', '--credential', `broker-password=${secret}`];

  const first = await exec(installScript, args, env);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /edge\.yaml: valid edge configuration/, 'enfpire config check ran on the installed profile');
  t.notOk(existsSync(calls), `no system command run: ${existsSync(calls) ? readFileSync(calls, 'utf8') : ''}`);

  const unitText = readFileSync(join(root, 'etc/systemd/system/enfpire-edge.service'), 'utf8');
  t.ok(existsSync(join(root, 'etc/systemd/system/enfpire-recognizer.service')));
  const exec0 = /^ExecStart=(\S+) (\S+) edge --config (\S+)$/m.exec(unitText);
  t.ok(exec0, 'ExecStart= of the installed unit');
  const [, node, script, config] = exec0 ?? [];
  t.doesNotThrow(() => accessSync(node, constants.X_OK), `${node} is executable`);
  t.ok(existsSync(join(root, script)), `${script} installed`);
  t.ok(existsSync(join(root, config)), `${config} installed`);
  t.ok(existsSync(join(root, dirname(script), '..', 'dist', 'cli', 'main.js')), 'compiled program installed');
  t.equal(readlinkSync(join(root, 'usr/local/bin/enfpire')), script, 'enfpire on PATH for operators');
  const workDir = /^WorkingDirectory=(\S+)$/m.exec(unitText)?.[1] ?? '';
  t.ok(statSync(join(root, workDir)).isDirectory(), `WorkingDirectory ${workDir} exists`);
  const modules = join(root, 'opt/enfpire/node_modules');
  t.ok(existsSync(join(modules, 'onnxruntime-node')) && !existsSync(join(modules, 'typescript')), 'runtime dependencies only');

  const credentialDir = join(root, 'etc/enfpire/credentials');
  t.equal(statSync(credentialDir).mode & 0o777, 0o700, 'credentials folder 0700');
  const sources = [...unitText.matchAll(/^LoadCredential=[^:]+:(\S+)$/gm)].map((m) => m[1]);
  t.ok(sources.length >= 2, 'the unit loads credentials');
  for (const source of sources) {
    t.equal(statSync(join(root, source)).mode & 0o777, 0o600, `${source} exists, 0600`);
  }
  t.equal(readFileSync(join(credentialDir, 'broker-password'), 'utf8'), 'correct horse\n', '--credential copied');

  const profile = parse(readFileSync(join(root, config), 'utf8')) as { gallery: { path: string }; model: { manifest: string }; camera: { dir: string } };
  t.equal(statSync(join(root, config)).mode & 0o777, 0o640, 'profile 0640');
  const stateDir = `/var/lib/${/^StateDirectory=(\S+)$/m.exec(unitText)?.[1]}`;
  t.equal(dirname(profile.gallery.path), stateDir, 'the gallery lives in the StateDirectory');
  for (const setting of [profile.model.manifest, profile.camera.dir]) {
    t.ok(isAbsolute(setting) && existsSync(join(root, setting)), `${setting} is absolute and installed`);
  }

  if (hasAnalyze) {
    // The installed unit, with only its root moved: verify it against the installed program tree.
    const copy = join(await tempDir(t, 'enfpire-unit-'), 'enfpire-edge.service');
    await writeFile(copy, runnableCopy(unitText.replace(`ExecStart=${node} `, 'ExecStart=/usr/bin/node '), join(root, 'opt/enfpire')));
    t.same(await verify(copy), { code: 0, complaints: [] }, 'systemd-analyze verify on the installed unit');
  }

  const edited = `${readFileSync(join(root, config), 'utf8')}# tuned on site\n`;
  await writeFile(join(root, config), edited);
  await writeFile(join(credentialDir, 'broker-username'), 'kiosk-fleet\n');
  const second = await exec(installScript, ['--root', root, '--profile', 'dev-files'], env);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /keeping the existing .*edge\.yaml/);
  t.equal(readFileSync(join(root, config), 'utf8'), edited, 'profile kept');
  t.equal(readFileSync(join(credentialDir, 'broker-username'), 'utf8'), 'kiosk-fleet\n', 'credential kept');
  t.equal(readFileSync(join(credentialDir, 'broker-password'), 'utf8'), 'correct horse\n', 'credential kept');
  t.notOk(existsSync(join(root, 'opt/enfpire.new')) || existsSync(join(root, 'opt/enfpire.old')), 'no staging left');

  const removed = await exec(join(packageRoot, 'scripts', 'uninstall.sh'), ['--root', root], env);
  t.equal(removed.code, 0, removed.stderr);
  for (const gone of ['opt/enfpire', 'etc/systemd/system/enfpire-edge.service', 'usr/local/bin/enfpire']) {
    t.notOk(existsSync(join(root, gone)), `uninstall removed /${gone}`);
  }
  t.equal(readFileSync(join(root, config), 'utf8'), edited, 'uninstall keeps the profile without --purge');
  t.notOk(existsSync(calls), 'uninstall --root runs no system command');
});
