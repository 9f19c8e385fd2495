import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../util/errors.js';

export type SqliteDatabase = Database.Database;

/** One schema step; `migrations[i]` takes a database from user_version i to i + 1. */
export type Migration = (db: SqliteDatabase) => void;

export interface OpenDatabaseOptions {
  /** What the file is, for error messages: "device gallery", "recognizer gallery". */
  what: string;
  /**
   * PRAGMA application_id stamped on the files this kind of database owns, so that opening some other SQLite file
   * (a device gallery as a recognizer gallery, or an unrelated app's database) is refused instead of migrated.
   */
  applicationId: number;
  migrations: readonly Migration[];
  /**
   * 'wal' for databases written while being read (the device gallery); 'delete' for files that must be a single
   * self-contained file, e.g. one built under a temporary name and renamed into place.
   */
  journal: 'wal' | 'delete';
  /** Refuse to create the file (open an existing database only). */
  mustExist?: boolean;
  /** Hint appended to the "does not exist" error, e.g. how to build the file. */
  missingHint?: string;
}

/**
 * Opens (creating when allowed) a SQLite file with our pragmas and brings its schema up to date through
 * PRAGMA user_version. Anything that goes wrong while opening is the user's to fix (wrong path, unwritable folder,
 * some other file at that path), so it becomes one UserError naming the path.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions): SqliteDatabase {
  const { what, migrations } = options;
  if (options.mustExist && !existsSync(path)) {
    throw new UserError(`The ${what} ${path} does not exist${options.missingHint ? `; ${options.missingHint}` : ''}.`);
  }
  let db: SqliteDatabase | undefined;
  try {
    if (!options.mustExist) mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { fileMustExist: options.mustExist ?? false });
    // The first real read is where SQLite notices a file that is not a database.
    const journal = String(db.pragma(`journal_mode = ${options.journal === 'wal' ? 'WAL' : 'DELETE'}`, { simple: true }));
    if (options.journal === 'wal' && journal.toLowerCase() !== 'wal') {
      throw new Error(`the file system refused WAL journaling (got '${journal}')`);
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    claim(db, path, what, options.applicationId);
    migrate(db, path, what, migrations);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`Cannot open the ${what} ${path} (${describeOpenError(err)}); point it at a writable folder or remove the file.`, {
      cause: err,
    });
  }
}

function claim(db: SqliteDatabase, path: string, what: string, applicationId: number): void {
  const current = Number(db.pragma('application_id', { simple: true }));
  if (current === applicationId) return;
  const tables = Number(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").pluck().get());
  if (current !== 0 || tables > 0) {
    throw new UserError(`${path} is a SQLite database but not a ${what}; point the setting at the right file.`);
  }
  db.pragma(`application_id = ${applicationId}`);
}

function migrate(db: SqliteDatabase, path: string, what: string, migrations: readonly Migration[]): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > migrations.length) {
    throw new UserError(
      `The ${what} ${path} has schema version ${current} but this build knows only up to ${migrations.length}; ` +
        'upgrade EnfPire or remove the file.',
    );
  }
  for (let version = current; version < migrations.length; version++) {
    // Each step and its version bump commit together, so a crash mid-upgrade leaves the previous schema intact.
    db.transaction(() => {
      migrations[version](db);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

function describeOpenError(err: unknown): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || /not a database/i.test(message)) return 'it is not a SQLite database';
  if (code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EROFS' || code === 'EEXIST') {
    return 'the path is a folder, or its folder is not writable';
  }
  if (code === 'SQLITE_READONLY') return 'the file is read-only';
  return message;
}
