import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ffmpegPlan, gstreamerPlan, libcameraPlan } from '../../daemon/camera/index.js';
import { checkConfigFile, loadEdgeConfig } from '../../daemon/config/load.js';

const FIRMWARE = fileURLToPath(new URL('../../firmware-config/', import.meta.url));

async function load(t: Test, name: string) {
  const dir = t.testdir();
  for (const secret of ['broker-username', 'broker-password', 'broker-ca', 'recognizer-key']) writeFileSync(join(dir, secret), `${secret}\n`);
  const file = join(FIRMWARE, `${name}.yaml`);
  t.same(checkConfigFile(file, 'edge'), [], `${name} is valid`);
  return loadEdgeConfig(file, { env: { CREDENTIALS_DIRECTORY: dir } });
}

t.test('Pi 5 + Camera Module 3: rpicam-vid streaming raw I420', async (t) => {
  const config = await load(t, 'pi5-camera-module-3');
  const plan = libcameraPlan(config.camera);
  t.same(plan.programs, ['rpicam-vid', 'libcamera-vid']);
  t.same(plan.args, ['-t', '0', '-n', '--width', '1280', '--height', '720', '--framerate', '5', '--codec', 'yuv420', '-o', '-']);
  t.equal(config.transport.password, 'broker-password', 'secrets come from credentials');
});

t.test('Jetson Orin Nano CSI: nvarguscamerasrc into jpegenc, TensorRT first', async (t) => {
  const config = await load(t, 'jetson-orin-nano-csi');
  t.same(config.model.executionProviders, ['tensorrt', 'cuda', 'cpu']);
  const plan = gstreamerPlan(config.camera);
  t.same(plan.args.slice(0, 5), ['-q', 'nvarguscamerasrc', 'sensor-id=0', '!', 'video/x-raw(memory:NVMM),width=1280,height=720,framerate=10/1']);
  t.ok(plan.args.includes('jpegenc'));
  t.same(plan.args.slice(-2), ['fdsink', 'fd=1']);
});

t.test('kiosk USB: ffmpeg from /dev/video0 to MJPEG on stdout', async (t) => {
  const config = await load(t, 'kiosk-usb');
  const plan = ffmpegPlan(config.camera);
  t.same(plan.args.slice(plan.args.indexOf('-i'), plan.args.indexOf('-i') + 2), ['-i', '/dev/video0']);
  t.same(plan.args.slice(-5), ['-f', 'mjpeg', '-q:v', '5', '-']);
});

t.test('rotation and roi reach each pipeline', async (t) => {
  const base = { width: 640, height: 480, fps: 5, input: 'v4l2' as const, device: '/dev/video1', sensorId: 0 };
  const roi = { x: 0.25, y: 0.1, width: 0.5, height: 0.5 };
  const gst = gstreamerPlan({ ...base, rotation: 90, roi });
  t.ok(gst.args.includes('method=clockwise'));
  t.same(gst.args.filter((a) => /^(left|top|right|bottom)=/.test(a)), ['left=120', 'top=64', 'right=120', 'bottom=256']);
  t.match(gst, { width: 240, height: 320 });
  const ffmpeg = ffmpegPlan({ ...base, rotation: 270, roi });
  t.equal(ffmpeg.args[ffmpeg.args.indexOf('-vf') + 1], 'transpose=cclock,crop=240:320:120:64');
  const pi = libcameraPlan({ ...base, rotation: 90, roi });
  t.equal(pi.args[pi.args.indexOf('--roi') + 1], '0.1,0.25,0.5,0.5');
  t.match(pi, { softwareRotation: 90, width: 480, height: 640 });
  t.throws(() => libcameraPlan({ ...base, rotation: 90, format: 'mjpeg' }), { name: 'UserError' });
  t.throws(() => ffmpegPlan({ ...base, rotation: 0, input: 'argus' }), { name: 'UserError' });
  const expert = ['-f', 'v4l2', '-i', '/dev/video9', '-f', 'mjpeg', '-'];
  t.same(ffmpegPlan({ ...base, rotation: 0, pipeline: expert }).args, expert, 'the pipeline override is used verbatim');
});
