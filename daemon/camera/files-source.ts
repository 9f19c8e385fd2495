import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { schemaDefault } from '../config/load.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { IMAGE_EXTENSIONS } from '../util/spots-dir.js';
import { FrameMailbox } from './mailbox.js';
import type { Frame, FrameSource } from './types.js';

export interface FilesSourceOptions {
  /** Folder of images; images in its direct sub-folders are included too (a spot-photo folder works). */
  dir: string;
  /** Frames per second offered to the mailbox. */
  fps: number;
  /** Start again after the last image (default: the schema's camera.loop); false ends the source after one pass. */
  loop?: boolean;
  logger?: Logger;
}

const imageExtensions = new Set(IMAGE_EXTENSIONS);

/**
 * Replays a folder of images as a camera (demo, tests, field replays). Files are read from disk one tick
 * at a time rather than held in memory, so a long field recording costs one frame of memory.
 */
export class FilesSource implements FrameSource {
  readonly kind = 'files';
  private readonly dir: string;
  private readonly intervalMs: number;
  private readonly loop: boolean;
  private readonly logger: Logger;
  private readonly mailbox = new FrameMailbox();
  private files: string[] = [];
  private position = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private nextDue = 0;
  private state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(options: FilesSourceOptions) {
    if (!(Number.isFinite(options.fps) && options.fps > 0)) {
      throw new UserError(`camera.fps must be a positive number of frames per second, not ${options.fps}.`);
    }
    this.dir = options.dir;
    this.intervalMs = 1000 / options.fps;
    this.loop = options.loop ?? (schemaDefault('edge', 'camera.loop') as boolean);
    this.logger = options.logger ?? silentLogger();
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error('FilesSource.start() called twice');
    this.files = await listImageFiles(this.dir);
    if (this.files.length === 0) {
      throw new UserError(
        `The camera folder ${this.dir} holds no .jpg, .jpeg, .png or .webp images; put images there or fix camera.dir.`,
      );
    }
    this.state = 'running';
    this.logger.info({ dir: this.dir, images: this.files.length, loop: this.loop }, 'files camera started');
    this.nextDue = Date.now();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.mailbox.close();
  }

  next(): Promise<Frame | null> {
    return this.mailbox.take();
  }

  stats(): { produced: number; dropped: number } {
    return this.mailbox.stats();
  }

  private schedule(): void {
    // Aim at a fixed grid of due times so slow reads don't stretch the rate; after a long stall, restart
    // the grid instead of bursting to catch up.
    const now = Date.now();
    if (this.nextDue < now - this.intervalMs) this.nextDue = now;
    this.timer = setTimeout(() => void this.tick(), Math.max(0, this.nextDue - now));
    this.nextDue += this.intervalMs;
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (this.state !== 'running') return;
    if (this.position >= this.files.length) this.position = 0;
    const label = this.files[this.position];
    const frame = await this.readFrame(label);
    if (this.state !== 'running') return;
    if (frame) {
      // A replay that ends (loop: false) is a recording to get through: every file is shown, so a slow consumer
      // holds it up instead of losing frames. A looping replay stands in for a live camera and drops like one.
      if (!this.loop) await this.mailbox.drained();
      if (this.state !== 'running') return;
      this.mailbox.put(frame);
      this.position++;
    } else {
      // Drop the bad file from the rotation so a looping replay logs it once, not once per pass.
      this.files.splice(this.position, 1);
    }
    const passDone = this.position >= this.files.length;
    if (this.files.length === 0 || (passDone && !this.loop)) this.finish();
    else this.schedule();
  }

  private finish(): void {
    this.state = 'stopped';
    if (this.files.length === 0) this.logger.error({ dir: this.dir }, 'files camera: no readable image left');
    else this.logger.info({ dir: this.dir }, 'files camera: replay finished');
    this.mailbox.end();
  }

  private async readFrame(label: string): Promise<Frame | null> {
    const path = join(this.dir, label);
    try {
      const data = await readFile(path);
      // Header only: proves the bytes are an image without decoding pixels here. Sizes are as displayed
      // (EXIF orientation applied), like a camera frame.
      const metadata = await sharp(data).metadata();
      const { width, height } = metadata.autoOrient ?? metadata;
      return { data, format: 'encoded', width, height, seq: ++this.seq, capturedAt: Date.now(), label };
    } catch (error) {
      this.logger.warn({ file: path, err: (error as Error).message }, 'files camera: skipping unreadable image');
      return null;
    }
  }
}

/**
 * Image files of a folder and of its direct sub-folders, as relative paths with '/' separators, sorted by
 * name with numbers in natural order (frame2 before frame10). Hidden entries are ignored.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  let found: string[];
  try {
    found = await imagesIn(dir, dir, 1);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a folder' : 'cannot be read';
    throw new UserError(`The camera folder ${dir} ${why}; fix camera.dir or create the folder.`, { cause: error });
  }
  const collator = new Intl.Collator('en', { numeric: true });
  return found.map((path) => path.split(sep).join('/')).sort(collator.compare);
}

async function imagesIn(root: string, dir: string, depthLeft: number): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => null);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isFile && imageExtensions.has(extname(entry.name).toLowerCase())) out.push(relative(root, path));
    // An unreadable sub-folder is skipped like an unreadable file; only the top folder itself must open.
    else if (isDir && depthLeft > 0) out.push(...(await imagesIn(root, path, depthLeft - 1).catch(() => [])));
  }
  return out;
}
