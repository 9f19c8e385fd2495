/** What the soak reads about a process from outside it (Linux /proc), and how big a SQLite file is on disk. */
import { readdirSync, readFileSync, statSync } from 'node:fs';

export interface ProcessProbe {
  /** Resident set size (VmRSS), bytes; null when the process is gone. */
  rssBytes: number | null;
  /** Its peak since the process started (VmHWM), bytes; null when the process is gone. */
  peakRssBytes: number | null;
  /** Entries in /proc/<pid>/fd: open files, sockets, pipes; null when the process is gone. */
  fds: number | null;
}

export function probeProcess(pid: number | undefined): ProcessProbe {
  if (pid === undefined) return { rssBytes: null, peakRssBytes: null, fds: null };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const bytes = (field: string): number | null => {
      const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1];
      return kb === undefined ? null : Number(kb) * 1024;
    };
    return { rssBytes: bytes('VmRSS'), peakRssBytes: bytes('VmHWM'), fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return { rssBytes: null, peakRssBytes: null, fds: null };
  }
}

/** The database file and its write-ahead log, bytes (0 for a file not there). */
export function sqliteBytes(path: string): { main: number; wal: number } {
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return { main: size(path), wal: size(`${path}-wal`) };
}
