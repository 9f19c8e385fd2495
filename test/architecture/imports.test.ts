/**
 * The import rules of docs/architecture.md ("Who may import whom"), checked on the code itself: every .ts file under
 * daemon/ is read, its relative import and export-from specifiers (static, and `await import('…')`) are resolved to
 * files, and each rule is asserted over the resulting graph. Every rule is also run on a small in-memory graph that
 * breaks it, so a rule that could never fail would show here.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** file (repository-relative, posix) -> the repository-relative files it imports. */
type ImportGraph = Map<string, string[]>;

/** The tools: they drive the product, the product never imports them. */
const TOOL_ROOMS = ['eval', 'bench', 'load', 'soak'];
/** The CLI modules that `cli/main.ts` imports lazily for those tools. */
const TOOL_COMMANDS = new Set(TOOL_ROOMS.map((tool) => `daemon/cli/${tool}-command.ts`));

/** The room of a file: its first folder under daemon/ ('' for anything else). */
function roomOf(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'daemon' && parts.length > 2 ? parts[1] : '';
}

function isProduction(file: string): boolean {
  return file.startsWith('daemon/') && !TOOL_ROOMS.includes(roomOf(file)) && !TOOL_COMMANDS.has(file);
}

/** A relative specifier of `from` as a repository-relative path: './x.js' -> 'daemon/room/x.ts'. */
function resolveSpecifier(from: string, specifier: string, exists: (file: string) => boolean): string {
  const target = posix.normalize(posix.join(posix.dirname(from), specifier));
  for (const candidate of [target.replace(/\.js$/, '.ts'), `${target}.ts`, `${target}/index.ts`]) {
    if (exists(candidate)) return candidate;
  }
  return target;
}

/** Relative specifiers of a TypeScript source: import, import type, export … from, side-effect and dynamic imports. */
function relativeSpecifiers(source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('.'));
}

function listTs(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) return listTs(path);
    return entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The import graph of every .ts file under daemon/. */
function readDaemonGraph(): ImportGraph {
  const files = listTs('daemon');
  const known = new Set(files);
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const source = readFileSync(join(ROOT, file), 'utf8');
    graph.set(
      file,
      relativeSpecifiers(source).map((s) => resolveSpecifier(file, s, (f) => known.has(f))),
    );
  }
  return graph;
}

/** One broken rule: the importing file and what it imports. */
interface Edge {
  from: string;
  to: string;
}

const edges = (graph: ImportGraph): Edge[] => [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));
const show = (found: Edge[]): string[] => found.map((e) => `${e.from} -> ${e.to}`);

interface Rule {
  name: string;
  /** The edges of `graph` that break the rule (empty when it holds). */
  check(graph: ImportGraph): Edge[];
}

/** The files that `applies` to may not import any file that is `forbidden`. */
function forbid(name: string, applies: (file: string) => boolean, forbidden: (target: string) => boolean): Rule {
  return { name, check: (graph) => edges(graph).filter((e) => applies(e.from) && forbidden(e.to)) };
}

const inRoom = (...rooms: string[]) => (file: string) => rooms.includes(roomOf(file));
const otherRoomThan = (...allowed: string[]) => (file: string) => roomOf(file) !== '' && !allowed.includes(roomOf(file));

/** The list of docs/architecture.md, "Who may import whom": a room imports only rooms of a higher number. */
const LADDER: Record<string, number> = {
  cli: 1,
  bench: 2,
  load: 2,
  soak: 2,
  demo: 2,
  eval: 2,
  edge: 3,
  recognizer: 3,
  api: 4,
  health: 5,
  extractor: 6,
  camera: 7,
  augment: 7,
  config: 8,
  gallery: 8,
  privacy: 9,
  transport: 10,
  storage: 10,
  domain: 11,
  util: 12,
};

/** The crossings docs/architecture.md lists as remaining, room -> room. */
const KNOWN_CROSSINGS = new Set(['load -> eval', 'load -> soak', 'bench -> load', 'eval -> demo']);

/** Imports that do not go down the ladder, but for the listed crossings. */
function ladderBreaks(graph: ImportGraph, known: ReadonlySet<string>): Edge[] {
  return edges(graph).filter((e) => {
    const from = roomOf(e.from);
    const to = roomOf(e.to);
    if (from === '' || to === '' || from === to || known.has(`${from} -> ${to}`)) return false;
    return !(LADDER[to] > LADDER[from]);
  });
}

const RULES: Rule[] = [
  forbid('the recognizer imports neither the gallery, the privacy layer nor the edge', inRoom('recognizer'), inRoom('gallery', 'privacy', 'edge')),
  forbid('no production file imports eval/ or bench/', isProduction, inRoom('eval', 'bench')),
  forbid('privacy/ imports nothing from transport/', inRoom('privacy'), inRoom('transport')),
  forbid('gallery/ imports nothing from transport/', inRoom('gallery'), inRoom('transport')),
  forbid('domain/ imports no room but util/', inRoom('domain'), otherRoomThan('domain', 'util')),
  forbid('storage/ imports no room but domain/ and util/', inRoom('storage'), otherRoomThan('storage', 'domain', 'util')),
  forbid('util/ imports no other room', inRoom('util'), otherRoomThan('util')),
  { name: 'every import goes down the list of rooms, but for the crossings listed', check: (graph) => ladderBreaks(graph, KNOWN_CROSSINGS) },
];

/** Every import cycle, each once, as the path file -> … -> the same file (Tarjan's strongly connected components). */
function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfLoop = (graph.get(node) ?? []).includes(node);
    if (component.length > 1 || selfLoop) cycles.push(cyclePath(graph, new Set(component)));
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return cycles;
}

/** One closed path through a strongly connected component, from its first file back to it (breadth-first). */
function cyclePath(graph: ImportGraph, component: Set<string>): string[] {
  const start = [...component].sort()[0];
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const to of graph.get(node) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let at = node; at !== start; at = parent.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!parent.has(to)) {
        parent.set(to, node);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

const graph = readDaemonGraph();

t.test('the graph is read from every daemon file', async (t) => {
  t.ok(graph.size > 100, `${graph.size} files under daemon/`);
  t.ok(graph.get('daemon/cli/main.ts')?.includes('daemon/cli/eval-command.ts'), 'lazy `await import()` of a command module is seen');
  const unresolved = edges(graph).filter((e) => e.to.startsWith('daemon/') && !graph.has(e.to));
  t.same(show(unresolved), [], 'every relative import names a file under daemon/');
});

for (const rule of RULES) {
  t.test(rule.name, async (t) => {
    t.same(show(rule.check(graph)), [], 'no file breaks it');
  });
}

t.test('every room has its place in the list, and every listed crossing is still there', async (t) => {
  const rooms = new Set([...graph.keys()].map(roomOf).filter((room) => room !== ''));
  t.same([...rooms].filter((room) => !(room in LADDER)), [], 'a new room is placed in docs/architecture.md and LADDER');
  const crossings = new Set(edges(graph).map((e) => `${roomOf(e.from)} -> ${roomOf(e.to)}`));
  t.same([...KNOWN_CROSSINGS].filter((c) => !crossings.has(c)), [], 'a crossing that is gone is struck from the list');
});

t.test("docs/architecture.md lists the same crossings as the test", async (t) => {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('Crossings that remain'), doc.indexOf('## Where a new part goes'));
  const listed = [...section.matchAll(/^\s*- `(\w+)\/` imports `(\w+)\/`/gm)].map(([, from, to]) => ({ from, to }));
  t.ok(listed.length >= KNOWN_CROSSINGS.size, `${listed.length} "a/ imports b/" lines read`);
  // A line whose import goes down the list (recognizer/ -> api/) is a remark, not a crossing.
  const crossings = listed.filter(({ from, to }) => !(LADDER[to] > LADDER[from])).map(({ from, to }) => `${from} -> ${to}`);
  t.same(crossings.sort(), [...KNOWN_CROSSINGS].sort());
});

t.test('no import cycles', async (t) => {
  t.same(findCycles(graph).map((path) => path.join(' -> ')), [], 'no file imports itself through others');
});

t.test('the tools are loaded lazily by the CLI only', async (t) => {
  const main = readFileSync(join(ROOT, 'daemon/cli/main.ts'), 'utf8');
  for (const command of TOOL_COMMANDS) {
    const importers = edges(graph).filter((e) => e.to === command).map((e) => e.from);
    t.same(importers, ['daemon/cli/main.ts'], `${command} is imported by cli/main.ts alone`);
    const specifier = `./${posix.basename(command).replace(/\.ts$/, '.js')}`;
    t.match(main, `await import('${specifier}')`, `cli/main.ts imports ${specifier} lazily`);
  }
});

t.test('each rule fails on a graph that breaks it', async (t) => {
  const bad: ImportGraph = new Map([
    ['daemon/recognizer/enroll.ts', ['daemon/gallery/sqlite.ts', 'daemon/privacy/view-model.ts', 'daemon/util/log.ts']],
    ['daemon/recognizer/service.ts', ['daemon/edge/edge-daemon.ts']],
    ['daemon/demo/demo.ts', ['daemon/eval/distort.ts']],
    ['daemon/cli/main.ts', ['daemon/bench/run-bench.ts']],
    ['daemon/load/load-run.ts', ['daemon/eval/views.ts', 'daemon/soak/child.ts']],
    ['daemon/cli/eval-command.ts', ['daemon/eval/eval-harness.ts']],
    ['daemon/privacy/decoys.ts', ['daemon/transport/messages.ts']],
    ['daemon/gallery/types.ts', ['daemon/transport/messages.ts']],
    ['daemon/domain/spot.ts', ['daemon/util/vector.ts', 'daemon/transport/codec.ts']],
    ['daemon/storage/sqlite.ts', ['daemon/domain/spot.ts', 'daemon/config/load.ts']],
    ['daemon/util/log.ts', ['daemon/config/types.ts']],
  ]);
  const broken = Object.fromEntries(RULES.map((rule) => [rule.name, show(rule.check(bad))]));
  t.same(broken, {
    [RULES[0].name]: [
      'daemon/recognizer/enroll.ts -> daemon/gallery/sqlite.ts',
      'daemon/recognizer/enroll.ts -> daemon/privacy/view-model.ts',
      'daemon/recognizer/service.ts -> daemon/edge/edge-daemon.ts',
    ],
    [RULES[1].name]: ['daemon/demo/demo.ts -> daemon/eval/distort.ts', 'daemon/cli/main.ts -> daemon/bench/run-bench.ts'],
    [RULES[2].name]: ['daemon/privacy/decoys.ts -> daemon/transport/messages.ts'],
    [RULES[3].name]: ['daemon/gallery/types.ts -> daemon/transport/messages.ts'],
    [RULES[4].name]: ['daemon/domain/spot.ts -> daemon/transport/codec.ts'],
    [RULES[5].name]: ['daemon/storage/sqlite.ts -> daemon/config/load.ts'],
    [RULES[6].name]: ['daemon/util/log.ts -> daemon/config/types.ts'],
    [RULES[7].name]: [
      'daemon/recognizer/service.ts -> daemon/edge/edge-daemon.ts',
      'daemon/demo/demo.ts -> daemon/eval/distort.ts',
      'daemon/domain/spot.ts -> daemon/transport/codec.ts',
      'daemon/storage/sqlite.ts -> daemon/config/load.ts',
      'daemon/util/log.ts -> daemon/config/types.ts',
    ],
  });
  t.equal(RULES.length, 8, 'every rule has its bad edge above');
  t.same(show(ladderBreaks(bad, new Set())), [
    ...broken[RULES[7].name].slice(0, 2),
    'daemon/load/load-run.ts -> daemon/eval/views.ts',
    'daemon/load/load-run.ts -> daemon/soak/child.ts',
    ...broken[RULES[7].name].slice(2),
  ], 'a crossing off the list is reported');
});

t.test('cycles are found and reported as a path', async (t) => {
  const cyclic: ImportGraph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts', 'd.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', []],
    ['e.ts', ['e.ts']],
    ['f.ts', ['d.ts']],
  ]);
  t.same(findCycles(cyclic), [['a.ts', 'b.ts', 'c.ts', 'a.ts'], ['e.ts', 'e.ts']]);
  t.same(findCycles(new Map([['a.ts', ['b.ts']], ['b.ts', []]])), [], 'a chain is no cycle');
});

t.test('specifiers are parsed and resolved as the compiler does', async (t) => {
  const source = [
    "import a from './a.js';",
    "import type { B } from '../b/b.js';",
    "export * from './c.js';",
    "export { g } from './g.js';",
    "const d = await import('./d.js');",
    "import 'node:fs';",
    "// import e from './e.js';",
    "const s = \"from './f.js'\";",
  ].join('\n');
  t.same(relativeSpecifiers(source), ['./a.js', '../b/b.js', './c.js', './g.js', './d.js']);
  const exists = (f: string) => ['daemon/x/a.ts', 'daemon/x/w/index.ts'].includes(f);
  t.equal(resolveSpecifier('daemon/x/y.ts', './a.js', exists), 'daemon/x/a.ts');
  t.equal(resolveSpecifier('daemon/x/y.ts', './w/index.js', exists), 'daemon/x/w/index.ts');
});
