import { UserError } from '../util/errors.js';
import { optionsHelp, type CommandOptions } from './args.js';

/**
 * The `enfpire` command line (DESIGN §9). Each sub-command lives in its own module and is imported lazily, so
 * `enfpire config check` does not load ONNX Runtime.
 */
type Command = {
  summary: string;
  /** The command's parser table, for `enfpire <command> --help`; imported only then. */
  options: () => Promise<CommandOptions>;
  run: (args: string[]) => Promise<number>;
};

const commands: Record<string, Command> = {
  demo: {
    summary: 'embedded broker + recognizer + edge daemon replaying the bundled sample spots [--once]',
    options: async () => (await import('./demo-command.js')).DEMO_OPTIONS,
    run: async (args) => (await import('./demo-command.js')).runDemoCommand(args),
  },
  edge: {
    summary: 'the device daemon: --config FILE',
    options: async () => (await import('./edge-command.js')).EDGE_OPTIONS,
    run: async (args) => (await import('./edge-command.js')).runEdgeCommand(args),
  },
  recognizer: {
    summary: 'the broker-side recognition service: --config FILE',
    options: async () => (await import('./recognizer-command.js')).RECOGNIZER_OPTIONS,
    run: async (args) => (await import('./recognizer-command.js')).runRecognizerCommand(args),
  },
  enroll: {
    summary: 'build a recognizer gallery from photos: --spots DIR --out DB [--model MANIFEST] [--reference-views N]',
    options: async () => (await import('./enroll-command.js')).ENROLL_OPTIONS,
    run: async (args) => (await import('./enroll-command.js')).runEnrollCommand(args),
  },
  bench: {
    summary: 'stage-by-stage speed and recognizer load: --out FILE.json [--frames N] [--quick]',
    options: async () => (await import('./bench-command.js')).BENCH_OPTIONS,
    run: async (args) => (await import('./bench-command.js')).runBenchCommand(args),
  },
  eval: {
    summary: 'privacy/utility evaluation of the shipped daemon: --spots DIR --out FILE.json [--k K] [--seed S] [--users U] [--minutes M] [--camera continuous|photos] [--offgallery DIR] [--time virtual|wall] [--set path=value]',
    options: async () => (await import('./eval-command.js')).EVAL_OPTIONS,
    run: async (args) => (await import('./eval-command.js')).runEvalCommand(args),
  },
  load: {
    summary: 'many simulated devices through a real broker against K recognizers of one shared group: --spots N --devices D --rate R --recognizers K[,K2,…] --minutes M --out FILE.json [--broker URL] [--roll] [--index hnsw|exact-onnx|int8-onnx] [--scan-thread worker|main] [--scan-threads N]',
    options: async () => (await import('./load-command.js')).LOAD_OPTIONS,
    run: async (args) => (await import('./load-command.js')).runLoadCommand(args),
  },
  soak: {
    summary: 'edge + recognizers through a private Mosquitto with faults on a schedule; memory, fds and SQLite size must stay flat: --minutes N [--rate Q] [--out FILE.json]',
    options: async () => (await import('./soak-command.js')).SOAK_OPTIONS,
    run: async (args) => (await import('./soak-command.js')).runSoakCommand(args),
  },
  status: {
    summary: 'ask a running edge daemon for its state: [--json] [--api ADDRESS | --config FILE]',
    options: async () => (await import('./status-command.js')).STATUS_OPTIONS,
    run: async (args) => (await import('./status-command.js')).runStatusCommand(args),
  },
  keygen: {
    summary: "the operator's signing key pair: --out DIR [--name NAME] [--force]",
    options: async () => (await import('./keygen-command.js')).KEYGEN_OPTIONS,
    run: async (args) => (await import('./keygen-command.js')).runKeygenCommand(args),
  },
  config: {
    summary: 'config check FILE [--kind edge|recognizer]: validate a profile against the schema',
    options: async () => (await import('./config-command.js')).CONFIG_OPTIONS,
    run: async (args) => (await import('./config-command.js')).runConfigCommand(args),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: enfpire <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) throw new UserError(`unknown command '${name}'; run 'enfpire --help' for the list of commands.`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage: enfpire ${name} [options]\n\n${command.summary}\n\n${optionsHelp(await command.options())}`);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UserError) {
      process.stderr.write(`enfpire: ${err.message}\n`);
    } else {
      const e = err as Error;
      process.stderr.write(`enfpire: unexpected error: ${e?.message ?? String(err)} (set ENFPIRE_DEBUG=1 for details)\n`);
      if (process.env.ENFPIRE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    }
    process.exitCode = 1;
  },
);
