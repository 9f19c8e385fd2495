/** What the soak reads about a process from outside it (Linux /proc), and how big a SQLite file is on disk. */
import { readdirSync, readFileSync, statSync } from 'node:fs';

export interface ProcessProbe {
  /** Resident set size (VmRSS), bytes; null when the process is gone. */
  rssBytes: number | null;
  /** Its peak since the process started (VmHWM), bytes; null when the process is gone. */
  peakRssBytes: number | null;
  /** Entries in /proc/<pid>/fd: open files, sockets, pipes; null when the process is gone. */
  fds: number | null;
  /** CPU time it has used, user and system together (utime + stime), seconds; null when the process is gone. */
  cpuSeconds: number | null;
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux architecture Node runs on). */
const USER_HZ = 100;

export function probeProcess(pid: number | undefined): ProcessProbe {
  if (pid === undefined) return { rssBytes: null, peakRssBytes: null, fds: null, cpuSeconds: null };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const bytes = (field: string): number | null => {
      const kb = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1];
      return kb === undefined ? null : Number(kb) * 1024;
    };
    return { rssBytes: bytes('VmRSS'), peakRssBytes: bytes('VmHWM'), fds: readdirSync(`/proc/${pid}/fd`).length, cpuSeconds: cpuSecondsOf(pid) };
  } catch {
    return { rssBytes: null, peakRssBytes: null, fds: null, cpuSeconds: null };
  }
}

function cpuSecondsOf(pid: number): number | null {
  // The command name (field 2) may hold spaces and parentheses: count fields from its closing one.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / USER_HZ : null;
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
