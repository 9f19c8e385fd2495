import { UserError } from '../util/errors.js';
import { optionsHelp, type CommandOptions } from './args.js';

/**
 * The `enfpire` command line (DESIGN §9). Each sub-command lives in its own module and is imported lazily, so
 * `enfpire config check` does not load ONNX Runtime.
 */
type Command = {
  summary: string;
  /** The command's module, imported when the command runs: its parser table (for `--help`) and its entry point. */
  load: () => Promise<{ options: CommandOptions; run: (args: string[]) => Promise<number> }>;
};

const commands: Record<string, Command> = {
  demo: {
    summary: 'embedded broker + recognizer + edge daemon replaying the bundled sample spots [--once]',
    load: async () => {
      const m = await import('./demo-command.js');
      return { options: m.DEMO_OPTIONS, run: m.runDemoCommand };
    },
  },
  edge: {
    summary: 'the device daemon: --config FILE',
    load: async () => {
      const m = await import('./edge-command.js');
      return { options: m.EDGE_OPTIONS, run: m.runEdgeCommand };
    },
  },
  recognizer: {
    summary: 'the broker-side recognition service: --config FILE',
    load: async () => {
      const m = await import('./recognizer-command.js');
      return { options: m.RECOGNIZER_OPTIONS, run: m.runRecognizerCommand };
    },
  },
  enroll: {
    summary: 'build a recognizer gallery from photos: --spots DIR --out DB [--model MANIFEST] [--reference-views N]',
    load: async () => {
      const m = await import('./enroll-command.js');
      return { options: m.ENROLL_OPTIONS, run: m.runEnrollCommand };
    },
  },
  bench: {
    summary: 'stage-by-stage speed and recognizer load: --out FILE.json [--frames N] [--quick]',
    load: async () => {
      const m = await import('./bench-command.js');
      return { options: m.BENCH_OPTIONS, run: m.runBenchCommand };
    },
  },
  eval: {
    summary: 'privacy/utility evaluation of the shipped daemon: --spots DIR --out FILE.json [--k K] [--seed S] [--users U] [--minutes M] [--camera continuous|photos] [--offgallery DIR] [--time virtual|wall] [--set path=value]',
    load: async () => {
      const m = await import('./eval-command.js');
      return { options: m.EVAL_OPTIONS, run: m.runEvalCommand };
    },
  },
  load: {
    summary: 'many simulated devices through a real broker against K recognizers of one shared group: --spots N --devices D --rate R --recognizers K[,K2,…] --minutes M --out FILE.json [--broker URL] [--roll] [--index hnsw|exact-onnx|int8-onnx] [--scan-thread worker|main] [--scan-threads N]',
    load: async () => {
      const m = await import('./load-command.js');
      return { options: m.LOAD_OPTIONS, run: m.runLoadCommand };
    },
  },
  soak: {
    summary: 'edge + recognizers through a private Mosquitto with faults on a schedule; memory, fds and SQLite size must stay flat: --minutes N [--rate Q] [--out FILE.json]',
    load: async () => {
      const m = await import('./soak-command.js');
      return { options: m.SOAK_OPTIONS, run: m.runSoakCommand };
    },
  },
  status: {
    summary: 'ask a running edge daemon for its state: [--json] [--api ADDRESS | --config FILE]',
    load: async () => {
      const m = await import('./status-command.js');
      return { options: m.STATUS_OPTIONS, run: m.runStatusCommand };
    },
  },
  keygen: {
    summary: "the operator's signing key pair: --out DIR [--name NAME] [--force]",
    load: async () => {
      const m = await import('./keygen-command.js');
      return { options: m.KEYGEN_OPTIONS, run: m.runKeygenCommand };
    },
  },
  config: {
    summary: 'config check FILE [--kind edge|recognizer]: validate a profile against the schema',
    load: async () => {
      const m = await import('./config-command.js');
      return { options: m.CONFIG_OPTIONS, run: m.runConfigCommand };
    },
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
  const { options, run } = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`usage: enfpire ${name} [options]\n\n${command.summary}\n\n${optionsHelp(options)}`);
    return 0;
  }
  return run(rest);
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
