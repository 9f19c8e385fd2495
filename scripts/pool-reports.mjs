#!/usr/bin/env node
/**
 * Pools several `enfpire eval --out` reports of one setting (same spots and k; other worlds or device seeds) into one
 * table, because one 12-wearer run measures an attack to about ±0.1 (docs/privacy.md, "How much of a figure is
 * chance"): a run's real queries fall in a dozen long visits, and the best of a dozen attacks lands above its own
 * expectation.
 *
 *   node scripts/pool-reports.mjs [--markdown] A.json B.json ... [-- C.json D.json ...]
 *
 * Reports before a `--` form the first setting, those after it the second; with two settings the table sets them
 * side by side. For each setting it prints:
 * - every attack's rate over all real queries of all runs (hits / real queries), and `server_top1` / `trajectory_acc`
 *   as the best pooled attack (the best of the pooled rates, not the mean of each run's best);
 * - each AUC as the mean over runs with the runs' standard deviation (AUCs of different runs are not pooled pairs);
 * - the user's ratio to plain recognition from the pooled user and baseline accuracies (runs of `--replay` left out:
 *   they ran no device);
 * - an attack that only some reports have (added later) pooled over those, and marked so;
 * - with three or more worlds, a 95 % interval for the pooled best attack and best path attack by resampling the
 *   worlds (a world's runs stay together: they share its visits). Each resample takes the best attack again, so the
 *   interval carries the lift of picking the best of many noisy rates, as the point figure does;
 * - the central-spot guess beside what it would win with uniform decoys (`central_spot_floor`): the rest is the
 *   device's doing, the floor is where the worlds' wearers stood; and that floor's mean over other worlds of the
 *   folder (`central_spot_floor_worlds`), what the worlds' own floor was drawn from;
 * - what asking later costs (`asking`: frames held back, visits asked about, seconds to the first real query).
 */
import { readFileSync } from 'node:fs';

await import('@tapjs/typescript/import');
const { seededRandom } = await import('../daemon/util/random.js');

const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const files = args.filter((a) => a !== '--markdown');
const cut = files.indexOf('--');
const settings = (cut < 0 ? [files] : [files.slice(0, cut), files.slice(cut + 1)]).filter((s) => s.length > 0);
if (settings.length === 0) {
  console.error('pool-reports: give one or more report files written by `enfpire eval --out FILE` (two settings: A.json ... -- B.json ...)');
  process.exit(2);
}

function load(file) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    console.error(`pool-reports: cannot read ${file} as a report of \`enfpire eval --out\`: ${err.message}`);
    process.exit(2);
  }
  if (typeof report.real_queries !== 'number' || typeof report.adversaries !== 'object') {
    console.error(`pool-reports: ${file} has no real_queries or adversaries; it is not a privacy report of \`enfpire eval --out\``);
    process.exit(2);
  }
  return report;
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
/** `read(report)` pooled over the reports' real queries: each report weighs by how many real queries it has. */
const overReal = (reports, read) => reports.reduce((a, r) => a + read(r) * r.real_queries, 0) / reports.reduce((a, r) => a + r.real_queries, 0);
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];

/**
 * The 2.5 and 97.5 % points of the best pooled rate among `names`, over `draws` resamples of the worlds: each draw
 * picks as many worlds as there are, with replacement, and pools every attack over their real queries.
 */
function worldInterval(reports, names, draws = 2000) {
  const bySeed = new Map();
  for (const r of reports) bySeed.set(r.seed, [...(bySeed.get(r.seed) ?? []), r]);
  const worlds = [...bySeed.values()];
  // A fixed stream: the interval of one set of reports is the same every time it is printed.
  const random = seededRandom(20261205);
  const bests = [];
  for (let d = 0; d < draws; d++) {
    const picked = worlds.map(() => worlds[Math.floor(random.next() * worlds.length)]).flat();
    bests.push(Math.max(...names.map((name) => overReal(picked, (r) => r.adversaries[name]))));
  }
  bests.sort((a, b) => a - b);
  return [quantile(bests, 0.025), quantile(bests, 0.975)];
}

const r3 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '—' : x.toFixed(3));

/** One setting's pooled figures, as label → text. */
function pool(reports) {
  const first = reports[0];
  for (const r of reports) {
    if (r.spots !== first.spots || r.k !== first.k) {
      console.error(`pool-reports: reports of one setting must share spots and k (got ${r.spots}/${r.k} beside ${first.spots}/${first.k})`);
      process.exit(2);
    }
  }
  const real = reports.reduce((a, r) => a + r.real_queries, 0);
  const rows = new Map();
  rows.set('runs (seed/device seed)', `${reports.length} (${reports.map((r) => `${r.seed}/${r.device_seed ?? '—'}`).join(', ')})`);
  // Runs of one world (seed) share its visits: another device seed is not another sample of where people go.
  const visits = new Map(reports.filter((r) => typeof r.world?.dwell?.count === 'number').map((r) => [r.seed, r.world.dwell.count]));
  if (visits.size > 0) rows.set('visits to a spot (distinct worlds)', `${[...visits.values()].reduce((a, b) => a + b, 0)} in ${visits.size}`);
  rows.set('real queries', String(real));
  // A report of `enfpire eval --replay` ran no device: it has the server's figures and no user's.
  const served = reports.filter((r) => r.replayed_from === undefined);
  const user = overReal(served, (r) => r.user_top1);
  const base = overReal(served, (r) => r.baseline_top1);
  rows.set('user / baseline', served.length === reports.length ? `${r3(user / base)} ×` : `${r3(user / base)} × (${served.length} runs with devices)`);
  // An attack added later is pooled over the runs that have it, never counted as missing hits in the others.
  const attacks = [...new Set(reports.flatMap((r) => Object.keys(r.adversaries)))].sort();
  const having = (name) => reports.filter((r) => typeof r.adversaries[name] === 'number');
  const pooled = Object.fromEntries(attacks.map((name) => [name, overReal(having(name), (r) => r.adversaries[name])]));
  const bestOf = (names) => names.reduce((a, b) => (pooled[b] > pooled[a] ? b : a));
  const best = bestOf(attacks);
  rows.set('server_top1, pooled best attack', `${r3(pooled[best])} (${best})`);
  // Only attacks every report has can be resampled world by world.
  const everywhere = attacks.filter((name) => having(name).length === reports.length);
  const worldCount = new Set(reports.map((r) => r.seed)).size;
  if (worldCount >= 3) {
    const [lo, hi] = worldInterval(reports, everywhere);
    rows.set('server_top1, 95 % over worlds', `[${r3(lo)}, ${r3(hi)}] (${worldCount} worlds resampled)`);
  }
  rows.set('server_top1, mean of runs (sd)', `${r3(mean(reports.map((r) => r.server_top1)))} (${r3(sd(reports.map((r) => r.server_top1)))})`);
  const paths = attacks.filter((name) => name.startsWith('path_attack'));
  if (paths.length > 0) rows.set('trajectory_acc, pooled best path attack', `${r3(pooled[bestOf(paths)])} (${bestOf(paths)})`);
  const everyPath = paths.filter((name) => everywhere.includes(name));
  if (everyPath.length > 0 && worldCount >= 3) {
    const [lo, hi] = worldInterval(reports, everyPath);
    rows.set('trajectory_acc, 95 % over worlds', `[${r3(lo)}, ${r3(hi)}]`);
  }
  const auc = (label, read) => {
    const xs = reports.map(read).filter((x) => typeof x === 'number');
    if (xs.length > 0) rows.set(label, `${r3(mean(xs))} (sd ${r3(sd(xs))}, max ${r3(Math.max(...xs))})`);
  };
  auc('dummy_auc', (r) => r.dummy_auc);
  // The same classifiers on labels permuted between sessions (reports since decision 54): the AUC they reach on
  // nothing, and how far each run's dummy_auc sits above its own.
  auc('dummy_auc null (mean of its runs)', (r) => r.dummy_auc_null?.mean);
  auc('dummy_auc over its null', (r) => (typeof r.dummy_auc_null?.mean === 'number' ? r.dummy_auc - r.dummy_auc_null.mean : undefined));
  // The one classifier kept by choosing on training folds (decision 70), and the same on the null's labels.
  auc('dummy_auc_selected', (r) => r.dummy_auc_selected);
  auc('dummy_auc_selected null (mean of its runs)', (r) => r.dummy_auc_selected_null?.mean);
  for (const group of ['scores', 'shape', 'track', 'session', 'persistence', 'nonlinear']) auc(`dummy_auc: ${group}`, (r) => r.dummy_auc_by?.[group]);
  // What is left within sessions once all that tells sessions apart is set aside (reports since decision 54).
  auc('dummy_auc within sessions', (r) => r.dummy_auc_within_session?.all);
  auc('timing_auc', (r) => r.timing_auc);
  auc('offgallery_auc', (r) => r.offgallery_auc);
  // What holding a spot back until it may go on the wire costs (privacy.transform.arrival; reports since decision 52).
  const asked = served.filter((r) => r.asking !== undefined);
  if (asked.length > 0) {
    const of = asked.length === served.length ? '' : ` (${asked.length} of ${served.length} runs)`;
    rows.set('frames of a spot held back (mean of runs)', `${r3(mean(asked.map((r) => r.asking.held_back)))}${of}`);
    rows.set('visits asked about (mean of runs)', `${r3(mean(asked.map((r) => r.asking.visits_asked)))}${of}`);
    rows.set('first ask, s: median / p90 (mean of runs)', `${r3(mean(asked.map((r) => r.asking.first_ask_s.median)))} / ${r3(mean(asked.map((r) => r.asking.first_ask_s.p90)))}${of}`);
  }
  // How much of the central-spot guess is where the wearers stood: its rate with uniform decoys (reports since 2026-12-05).
  const floored = reports.filter((r) => typeof r.central_spot_floor === 'number' && typeof r.adversaries.central_spot_exhaustive === 'number');
  if (floored.length > 0) {
    const floor = overReal(floored, (r) => r.central_spot_floor);
    const got = overReal(floored, (r) => r.adversaries.central_spot_exhaustive);
    const of = floored.length === reports.length ? '' : ` (${floored.length} of ${reports.length} runs)`;
    rows.set('central_spot: with uniform decoys / above that', `${r3(floor)} / ${got - floor >= 0 ? '+' : ''}${r3(got - floor)}${of}`);
  }
  // The same floor on average over other worlds of the folder (reports since 2026-12-07): what these worlds drew it from.
  const expected = reports.filter((r) => typeof r.central_spot_floor_worlds?.mean === 'number');
  if (expected.length > 0) {
    const of = expected.length === reports.length ? '' : ` (${expected.length} of ${reports.length} runs)`;
    const one = expected[0].central_spot_floor_worlds;
    rows.set('central_spot: uniform-decoy floor over other worlds', `${r3(mean(expected.map((r) => r.central_spot_floor_worlds.mean)))} (sd of one world ${r3(one.sd)})${of}`);
  }
  for (const name of attacks) {
    const n = having(name).length;
    rows.set(`attack: ${name}`, n === reports.length ? r3(pooled[name]) : `${r3(pooled[name])} (${n} of ${reports.length} runs)`);
  }
  return rows;
}

const pooledSettings = settings.map((files) => pool(files.map(load)));
const labels = [...new Set(pooledSettings.flatMap((rows) => [...rows.keys()]))];
if (markdown) {
  const head = settings.length === 1 ? ['', 'pooled'] : ['', 'first setting', 'second setting'];
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const label of labels) console.log(`| ${label} | ${pooledSettings.map((rows) => rows.get(label) ?? '—').join(' | ')} |`);
} else {
  const width = Math.max(...labels.map((l) => l.length));
  for (const label of labels) console.log(`${label.padEnd(width)}  ${pooledSettings.map((rows) => (rows.get(label) ?? '—').padEnd(34)).join('  ')}`);
}
