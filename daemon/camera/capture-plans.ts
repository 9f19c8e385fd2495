import type { CameraConfig, CameraFormat, RegionOfInterest } from '../config/types.js';
import { UserError } from '../util/errors.js';

/** How to run one streaming capture program, built from `camera` of the configuration. */
export interface CapturePlan {
  kind: 'libcamera' | 'gstreamer' | 'ffmpeg';
  /** Program names tried in order on PATH (the first found runs). */
  programs: string[];
  /** Argument array (never a shell string). */
  args: string[];
  format: CameraFormat;
  /** Size of the frames as they leave the source (after any rotation and crop). */
  width: number;
  height: number;
  /** Rotation the source applies itself to raw frames, when the program cannot (rpicam-vid only flips). */
  softwareRotation?: 90 | 180 | 270;
  /** What to install when no program is found. */
  installHint: string;
}

/** The subset of CameraConfig the plans read (so the bench can pass a partial config over defaults). */
export type CaptureSettings = Pick<
  CameraConfig,
  'width' | 'height' | 'fps' | 'rotation' | 'roi' | 'format' | 'input' | 'device' | 'sensorId' | 'pipeline'
>;

/**
 * Raspberry Pi: `rpicam-vid -t 0 -n --width W --height H --framerate F --codec yuv420|mjpeg [--rotation 180]
 * [--roi x,y,w,h] -o -`. The sensor can only flip, so 90/270 degrees are turned in software (raw frames only).
 */
export function libcameraPlan(config: CaptureSettings): CapturePlan {
  const format = config.format ?? 'yuv420';
  const { width, height, rotation } = config;
  const quarterTurn = rotation === 90 || rotation === 270;
  if (quarterTurn && !config.pipeline && format !== 'yuv420') {
    throw new UserError(
      `camera.rotation ${rotation} with camera.kind 'libcamera' needs camera.format 'yuv420' (the sensor can only flip, so the source turns raw frames itself); set camera.format: yuv420, or camera.rotation: 0 or 180.`,
    );
  }
  if (quarterTurn && (width % 2 || height % 2)) {
    throw new UserError(`camera.width and camera.height must be even to rotate by ${rotation} degrees; use e.g. 1280x720.`);
  }
  const args = config.pipeline ?? [
    '-t', '0',
    '-n',
    '--width', String(width),
    '--height', String(height),
    '--framerate', formatNumber(config.fps),
    '--codec', format,
    ...(rotation === 180 ? ['--rotation', '180'] : []),
    ...(config.roi ? ['--roi', sensorRoi(config.roi, rotation).map(formatNumber).join(',')] : []),
    '-o', '-',
  ];
  const software = !config.pipeline && quarterTurn ? rotation : undefined;
  return {
    kind: 'libcamera',
    programs: ['rpicam-vid', 'libcamera-vid'],
    args,
    format,
    width: software ? height : width,
    height: software ? width : height,
    ...(software ? { softwareRotation: software } : {}),
    installHint: "install rpicam-apps (sudo apt install rpicam-apps) or use camera.kind 'gstreamer' or 'ffmpeg'",
  };
}

/**
 * Jetson CSI (`nvarguscamerasrc`) or USB (`v4l2src`) through `gst-launch-1.0 -q … ! jpegenc ! fdsink fd=1`
 * (or raw I420 into fdsink for format yuv420). Rotation and crop run in the pipeline.
 */
export function gstreamerPlan(config: CaptureSettings): CapturePlan {
  const format = config.format ?? 'mjpeg';
  const out = outputGeometry(config, format === 'yuv420' ? 8 : 2);
  if (format === 'yuv420' && !config.pipeline && out.width % 8) {
    // GStreamer pads I420 rows to 4 bytes; with a width of a multiple of 8 no plane is padded.
    throw new UserError(`camera.width must be a multiple of 8 for gstreamer with format yuv420 (rows are padded otherwise); use e.g. 1280 or 640.`);
  }
  const rate = `framerate=${fraction(config.fps)}`;
  const source =
    config.input === 'argus'
      ? [
          'nvarguscamerasrc', `sensor-id=${config.sensorId}`,
          '!', `video/x-raw(memory:NVMM),width=${config.width},height=${config.height},${rate}`,
          '!', 'nvvidconv', ...(config.rotation ? [`flip-method=${NVVIDCONV_FLIP[config.rotation]}`] : []),
          '!', 'video/x-raw,format=I420',
        ]
      : [
          'v4l2src', `device=${config.device}`,
          '!', `video/x-raw,width=${config.width},height=${config.height}`,
          '!', 'videorate', 'drop-only=true',
          '!', `video/x-raw,${rate}`,
          '!', 'videoconvert',
          ...(config.rotation ? ['!', 'videoflip', `method=${VIDEOFLIP_METHOD[config.rotation]}`] : []),
        ];
  const crop = out.crop
    ? ['!', 'videocrop', `left=${out.crop.left}`, `top=${out.crop.top}`, `right=${out.crop.right}`, `bottom=${out.crop.bottom}`]
    : [];
  const sink =
    format === 'mjpeg'
      ? ['!', 'jpegenc', 'quality=85', '!', 'fdsink', 'fd=1']
      : ['!', 'videoconvert', '!', 'video/x-raw,format=I420', '!', 'fdsink', 'fd=1'];
  return {
    kind: 'gstreamer',
    programs: ['gst-launch-1.0'],
    args: config.pipeline ?? ['-q', ...source, ...crop, ...sink],
    format,
    width: config.pipeline ? config.width : out.width,
    height: config.pipeline ? config.height : out.height,
    installHint:
      config.input === 'argus'
        ? 'install the NVIDIA JetPack GStreamer plugins (nvidia-l4t-gstreamer)'
        : 'install GStreamer (sudo apt install gstreamer1.0-tools gstreamer1.0-plugins-good)',
  };
}

/** USB (V4L2) camera through `ffmpeg -f v4l2 -i /dev/videoN … -f mjpeg -` (or `-f rawvideo -pix_fmt yuv420p -`). */
export function ffmpegPlan(config: CaptureSettings): CapturePlan {
  if (config.input === 'argus' && !config.pipeline) {
    throw new UserError("camera.input 'argus' (Jetson CSI) works with camera.kind 'gstreamer' only; set kind: gstreamer, or input: v4l2 for a USB camera.");
  }
  const format = config.format ?? 'mjpeg';
  const out = outputGeometry(config, 2);
  const filters = [
    ...(config.rotation ? [FFMPEG_ROTATE[config.rotation]] : []),
    ...(out.crop ? [`crop=${out.width}:${out.height}:${out.crop.left}:${out.crop.top}`] : []),
  ];
  const sink = format === 'mjpeg' ? ['-f', 'mjpeg', '-q:v', '5', '-'] : ['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'];
  const args = config.pipeline ?? [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'v4l2',
    '-framerate', formatNumber(config.fps),
    '-video_size', `${config.width}x${config.height}`,
    '-i', config.device,
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    ...sink,
  ];
  return {
    kind: 'ffmpeg',
    programs: ['ffmpeg'],
    args,
    format,
    width: config.pipeline ? config.width : out.width,
    height: config.pipeline ? config.height : out.height,
    installHint: 'install ffmpeg (sudo apt install ffmpeg)',
  };
}

const NVVIDCONV_FLIP = { 90: 3, 180: 2, 270: 1 } as const;
const VIDEOFLIP_METHOD = { 90: 'clockwise', 180: 'rotate-180', 270: 'counterclockwise' } as const;
const FFMPEG_ROTATE = { 90: 'transpose=clock', 180: 'hflip,vflip', 270: 'transpose=cclock' } as const;

interface Geometry {
  width: number;
  height: number;
  crop?: { left: number; top: number; right: number; bottom: number };
}

/** Size after rotation and the roi crop (in pixels of the rotated frame); crop width a multiple of `align`. */
function outputGeometry(config: CaptureSettings, align: number): Geometry {
  const quarterTurn = config.rotation === 90 || config.rotation === 270;
  const rw = quarterTurn ? config.height : config.width;
  const rh = quarterTurn ? config.width : config.height;
  if (!config.roi) return { width: rw, height: rh };
  const { x, y, width, height } = config.roi;
  const left = even(x * rw);
  const top = even(y * rh);
  const w = Math.max(align, Math.floor(Math.min(width * rw, rw - left) / align) * align);
  const h = Math.max(2, even(Math.min(height * rh, rh - top)));
  if (left + w > rw || top + h > rh) {
    throw new UserError(`camera.roi leaves no picture inside the ${rw}x${rh} frame; make x+width and y+height at most 1.`);
  }
  return { width: w, height: h, crop: { left, top, right: rw - left - w, bottom: rh - top - h } };
}

/**
 * camera.roi is given in the rotated frame; libcamera's --roi is in sensor coordinates (it crops before
 * the flips and before our software turn), so map the rectangle back.
 */
export function sensorRoi(roi: RegionOfInterest, rotation: CameraConfig['rotation']): [number, number, number, number] {
  const { x, y, width: w, height: h } = roi;
  switch (rotation) {
    case 180:
      return [1 - x - w, 1 - y - h, w, h];
    case 90: // clockwise: sensor (sx, sy) shows at (1 - sy - sh, sx)
      return [y, 1 - x - w, h, w];
    case 270: // counter-clockwise: sensor (sx, sy) shows at (sy, 1 - sx - sw)
      return [1 - y - h, x, h, w];
    default:
      return [x, y, w, h];
  }
}

function even(value: number): number {
  return Math.floor(value / 2) * 2;
}

/** fps as a GStreamer fraction: 5 → '5/1', 2.5 → '5/2'. */
function fraction(fps: number): string {
  if (Number.isInteger(fps)) return `${fps}/1`;
  const denominator = 1000;
  const numerator = Math.round(fps * denominator);
  const g = gcd(numerator, denominator);
  return `${numerator / g}/${denominator / g}`;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Up to 4 decimals, no trailing zeros, no exponent. */
function formatNumber(value: number): string {
  return String(Math.round(value * 10000) / 10000);
}
