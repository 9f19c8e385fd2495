import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { ApiServer, type ApiServerOptions } from '../../daemon/api/api-server.js';
import { redactedProfile } from '../../daemon/api/profile.js';
import type { StatusReport } from '../../daemon/api/status.js';
import type { Frame } from '../../daemon/camera/types.js';
import { loadEdgeConfig } from '../../daemon/config/load.js';
import { silentLogger } from '../../daemon/util/log.js';
import { sampleSpotsDir } from '../../daemon/util/paths.js';
import { FakePipeline, get } from './helpers.js';

const TOKEN = 'operator-token-0123456789';

async function startApi(t: Test, options: Partial<ApiServerOptions> = {}): Promise<ApiServer> {
  const api = new ApiServer({ listen: '127.0.0.1:0', pipeline: new FakePipeline(), model: 'm', version: '1', logger: silentLogger(), ...options });
  await api.start();
  t.teardown(() => api.stop());
  return api;
}

t.test('the page is served from the device with a strict content security policy', async (t) => {
  const api = await startApi(t);
  const page = await get(api.listening, '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /<script src="operator\.js" defer><\/script>/);
  t.notMatch(page.body, /https?:\/\//, 'nothing from another origin');
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
  t.equal(page.headers['x-frame-options'], 'DENY');
  const script = await get(api.listening, '/operator.js');
  t.match(script.headers['content-type'], /^text\/javascript/);
  t.notMatch(script.body, /innerHTML/, 'daemon data never goes in as HTML');
  t.equal((await get(api.listening, '/operator.css')).status, 200);
  t.equal((await get(api.listening, '/', { host: 'rebind.example:80' })).status, 403, 'the Host check covers the page');

  const off = await startApi(t, { page: false });
  t.equal((await get(off.listening, '/')).status, 404, 'api.page: false');
});

t.test('/status carries privacy at a glance', async (t) => {
  const api = await startApi(t, {
    privacy: {
      privacy: () => ({ transform: 'kmix', k: 6, identityAgeMs: 61_400, identityRotations: 2, region: { name: 'north', galleryVersion: 'g7', spots: 1077, signature: 'unsigned' } }),
    },
  });
  const status = JSON.parse((await get(api.listening, '/status')).body) as StatusReport;
  t.same(status.privacy, {
    transform: 'kmix',
    k: 6,
    identity_age_s: 61,
    identity_rotations: 2,
    region_pack: { region: 'north', gallery_version: 'g7', spots: 1077, signature: 'unsigned' },
  });
  const bare = await startApi(t);
  t.equal((JSON.parse((await get(bare.listening, '/status')).body) as StatusReport).privacy, null);
});

t.test('/config shows the profile in effect without the secrets, but where they come from', async (t) => {
  const dir = t.testdir({ password: 'hunter2-broker\n', token: `${TOKEN}\n` });
  const profile = join(dir, 'edge.yaml');
  writeFileSync(
    profile,
    `camera:\n  dir: ${sampleSpotsDir}\n` +
      'transport:\n  url: mqtt://127.0.0.1:1883\n  usernameFile: password\n  passwordFile: password\napi:\n  lan:\n    listen: 0.0.0.0:8766\n    tokenFile: token\n',
  );
  const config = await loadEdgeConfig(profile);
  t.equal(config.api.lan?.token, TOKEN, 'the loader read the token');
  t.equal(config.transport.password, 'hunter2-broker');
  const api = await startApi(t, { profile: redactedProfile(config) });
  const reply = await get(api.listening, '/config');
  t.equal(reply.status, 200);
  t.notMatch(reply.body, /hunter2|operator-token/, 'no secret value');
  const shown = JSON.parse(reply.body) as { transport: Record<string, unknown>; api: { lan: Record<string, unknown>; thumbnail: unknown } };
  t.equal(shown.transport.passwordFile, join(dir, 'password'));
  t.notOk('password' in shown.transport);
  t.notOk('username' in shown.transport);
  t.same(shown.api.lan, { listen: '0.0.0.0:8766', tokenFile: join(dir, 'token') });
  t.same(shown.api.thumbnail, { enabled: false, width: 320, fps: 3 }, 'defaults from the schema');
  t.equal(config.transport.password, 'hunter2-broker', 'the running config is untouched');
  t.equal((await get((await startApi(t)).listening, '/config')).status, 404);
});

t.test('the thumbnail: 404 while off; a small JPEG of the latest frame while on, made at most fps times a second', async (t) => {
  const off = await startApi(t);
  const reply = await get(off.listening, '/thumbnail.jpg');
  t.equal(reply.status, 404);
  t.match(reply.body, /api\.thumbnail\.enabled/);

  const photo = readFileSync(join(sampleSpotsDir, 'aqua.jpg'));
  let latest: Frame | null = null;
  let asked = 0;
  const frames = {
    latestFrame: () => {
      asked++;
      return latest;
    },
  };
  const api = await startApi(t, { thumbnail: { frames, width: 160, fps: 0.5 } });
  t.equal((await get(api.listening, '/thumbnail.jpg')).status, 503, 'no frame yet');
  latest = { data: photo, format: 'encoded', seq: 1, capturedAt: Date.now() };
  const first = await get(api.listening, '/thumbnail.jpg');
  t.equal(first.status, 200);
  t.equal(first.headers['content-type'], 'image/jpeg');
  t.equal(first.headers['cache-control'], 'no-store');
  const meta = await sharp(first.bytes).metadata();
  t.equal(meta.format, 'jpeg');
  t.equal(meta.width, 160);
  t.ok(first.bytes.length < photo.length / 4, `small (${first.bytes.length} of ${photo.length} bytes)`);
  const before = asked;
  latest = { ...latest, seq: 2 };
  t.same((await get(api.listening, '/thumbnail.jpg')).bytes, first.bytes, 'within 1/fps the same picture is served again');
  t.equal(asked, before, 'and no frame was taken');

  // A raw YUV420 frame (a grey 64x48 picture) goes through the extractor's conversion.
  const yuv = Buffer.alloc(64 * 48 + 2 * 32 * 24, 128);
  const raw = await startApi(t, { thumbnail: { frames: { latestFrame: () => ({ data: yuv, format: 'yuv420', width: 64, height: 48, seq: 1, capturedAt: 0 }) }, width: 64, fps: 1 } });
  const grey = await sharp((await get(raw.listening, '/thumbnail.jpg')).bytes).metadata();
  t.same([grey.width, grey.height], [64, 48]);
});

t.test('the LAN listener: nothing without the token; bearer, or ?token= once for a browser', async (t) => {
  const api = await startApi(t, { lan: { listen: '127.0.0.1:0', token: TOKEN } });
  const lan = api.lanListening!;
  t.ok(lan, 'listening');
  t.not(lan.kind === 'tcp' && lan.port, api.listening.kind === 'tcp' && api.listening.port, 'a listener of its own');
  for (const path of ['/', '/status', '/metrics', '/events', '/config']) {
    const denied = await get(lan, path, { host: 'kiosk.lan:8766' });
    t.equal(denied.status, 401, `${path} without a token`);
    t.match(denied.headers['www-authenticate'], /^Bearer/);
  }
  t.equal((await get(lan, '/status', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401, 'a wrong token');
  t.equal((await get(lan, '/?token=wrong', { host: 'kiosk.lan:8766' })).status, 401);
  const ok = await get(lan, '/status', { host: 'kiosk.lan:8766', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(ok.status, 200, 'any Host on the LAN, with the token');

  const login = await get(lan, `/?token=${TOKEN}`, { host: 'kiosk.lan:8766' });
  t.equal(login.status, 303);
  t.equal(login.headers.location, '/', 'the token leaves the address bar');
  const cookie = String(login.headers['set-cookie']);
  t.match(cookie, /HttpOnly/);
  t.match(cookie, /SameSite=Strict/);
  const page = await get(lan, '/', { headers: { cookie: cookie.split(';')[0] } });
  t.equal(page.status, 200);
  t.match(page.body, /EnfPire edge/);
  t.equal((await get(api.listening, '/status')).status, 200, 'loopback needs no token');
});

t.test('a short token is refused before anything listens', async (t) => {
  t.throws(() => new ApiServer({ listen: '127.0.0.1:0', pipeline: new FakePipeline(), model: 'm', version: '1', logger: silentLogger(), lan: { listen: '0.0.0.0:0', token: 'short' } }), {
    name: 'UserError',
    message: /api\.lan\.tokenFile has 5 characters; write at least 16/,
  });
});
