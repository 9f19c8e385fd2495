/**
 * Every flag the help shows is one its command accepts (issue #13: docs listed `eval --queries-per-spot`, which the
 * parser rejected). The help is `enfpire --help` itself, run from the source; the usage lines in the command modules'
 * comments, README.md, docs/ and systemd/ are held to the same parsers.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseCommandArgs, type CommandOptions } from '../../daemon/cli/args.js';
import { BENCH_OPTIONS } from '../../daemon/cli/bench-command.js';
import { CONFIG_OPTIONS } from '../../daemon/cli/config-command.js';
import { DEMO_OPTIONS } from '../../daemon/cli/demo-command.js';
import { EDGE_OPTIONS } from '../../daemon/cli/edge-command.js';
import { ENROLL_OPTIONS } from '../../daemon/cli/enroll-command.js';
import { EVAL_OPTIONS } from '../../daemon/cli/eval-command.js';
import { KEYGEN_OPTIONS } from '../../daemon/cli/keygen-command.js';
import { LOAD_OPTIONS } from '../../daemon/cli/load-command.js';
import { RECOGNIZER_OPTIONS } from '../../daemon/cli/recognizer-command.js';
import { SOAK_OPTIONS } from '../../daemon/cli/soak-command.js';
import { STATUS_OPTIONS } from '../../daemon/cli/status-command.js';
import { packageRoot } from '../../daemon/util/paths.js';

const parsers: Record<string, CommandOptions> = {
  demo: DEMO_OPTIONS,
  edge: EDGE_OPTIONS,
  recognizer: RECOGNIZER_OPTIONS,
  enroll: ENROLL_OPTIONS,
  bench: BENCH_OPTIONS,
  eval: EVAL_OPTIONS,
  load: LOAD_OPTIONS,
  soak: SOAK_OPTIONS,
  status: STATUS_OPTIONS,
  keygen: KEYGEN_OPTIONS,
  config: CONFIG_OPTIONS,
};

/** The `--flags` of a piece of usage text. */
function flagsIn(text: string): string[] {
  return [...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]);
}

/** Whether `command`'s own parser takes `--flag` (with a value when it wants one); the parser's message if not. */
function refusal(command: string, flag: string): string | null {
  if (flag === 'help') return null; // main.ts answers `enfpire <command> --help` before the parser runs
  const options = parsers[command];
  const args = options[flag]?.type === 'string' ? [`--${flag}`, 'x'] : [`--${flag}`];
  try {
    parseCommandArgs(command, args, options, true);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

t.test('a flag the parser does not know is refused (the check can fail)', async (t) => {
  t.match(refusal('eval', 'queries-per-spot'), /Unknown option '--queries-per-spot'/);
  t.equal(refusal('eval', 'max-candidates'), null);
  t.equal(refusal('eval', 'no-cache'), null);
  t.same(flagsIn('--spots DIR [--camera continuous|photos] --no-cache x--y'), ['spots', 'camera', 'no-cache']);
});

t.test('every flag `enfpire --help` shows is accepted by its command', async (t) => {
  const tsLoader = import.meta.resolve('@tapjs/typescript/import');
  const run = spawnSync(process.execPath, ['--import', tsLoader, join(packageRoot, 'daemon/cli/main.ts'), '--help'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, run.stderr);
  const lines = run.stdout.split('\n').flatMap((line) => {
    const m = /^ {2}(\S+) +(.*)$/.exec(line);
    return m ? [[m[1], m[2]] as const] : [];
  });
  t.same(lines.map(([name]) => name).sort(), Object.keys(parsers).sort(), 'the help lists every command, and the test knows each');
  let checked = 0;
  for (const [command, summary] of lines) {
    if (!parsers[command]) continue;
    for (const flag of flagsIn(summary)) {
      checked++;
      t.equal(refusal(command, flag), null, `enfpire ${command} --${flag}`);
    }
  }
  t.ok(checked >= 30, `${checked} flags in the help`);
});

t.test('`enfpire eval --help` lists every flag its parser takes, and only those', async (t) => {
  const tsLoader = import.meta.resolve('@tapjs/typescript/import');
  const main = join(packageRoot, 'daemon/cli/main.ts');
  const run = spawnSync(process.execPath, ['--import', tsLoader, main, 'eval', '--spots', 'x', '--help'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /^usage: enfpire eval \[options\]/);
  const listed = [...run.stdout.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]);
  t.same(listed.sort(), Object.keys(EVAL_OPTIONS).sort());
  t.match(run.stdout, /--set VALUE \(repeatable\)/);
  const wrong = spawnSync(process.execPath, ['--import', tsLoader, main, 'eval', '--queries-per-spot', '3'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /Unknown option '--queries-per-spot'; run 'enfpire eval --help' for its options\./, 'the refusal says where the options are');
});

t.test('usage lines in the command modules, README.md, docs/ and systemd/ name only flags their command accepts', async (t) => {
  const files = [
    join(packageRoot, 'README.md'),
    ...['docs', 'systemd', 'daemon/cli'].flatMap((dir) =>
      readdirSync(join(packageRoot, dir), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && /\.(md|ts|service)$/.test(e.name))
        .map((e) => join(e.parentPath, e.name)),
    ),
  ];
  const commands = Object.keys(parsers).join('|');
  const invocation = new RegExp(`(?:\\benfpire|bin/enfpire\\.js) (${commands})\\b([^\`]*)`, 'g');
  const wrong: string[] = [];
  let checked = 0;
  for (const file of files) {
    // Usage that continues on the next line: a shell `\`, or a comment's ` * [--flag …]`.
    const text = readFileSync(file, 'utf8')
      .replace(/\\\n\s*(?:\*\s*)?/g, ' ')
      .replace(/\n\s*\*\s+(?=\[?--)/g, ' ');
    for (const line of text.split('\n')) {
      for (const [, command, rest] of line.matchAll(invocation)) {
        // Up to the end of the command: a pipe, `&&`, `;`, a shell comment or the sentence's end.
        for (const flag of flagsIn(rest.split(/ \| | && |;| #|\. [A-Z]/)[0])) {
          checked++;
          const message = refusal(command, flag);
          if (message) wrong.push(`${relative(packageRoot, file)}: enfpire ${command} --${flag}: ${message}`);
        }
      }
    }
  }
  t.ok(checked >= 100, `${checked} flags in usage lines`);
  t.same(wrong, [], 'each is accepted');
});
