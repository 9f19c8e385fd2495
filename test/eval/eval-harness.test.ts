/**
 * The privacy harness end to end on the bundled sample spots: the real model, an in-process broker, the real
 * RecognizerService and RecognitionClients, a wiretap for what the server saw. Short simulated runs keep it fast.
 */
import t from 'tap';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval, type EvalReport } from '../../daemon/eval/eval-harness.js';
import { defaultModelManifest, sampleSpotsDir } from '../../daemon/util/paths.js';
import { listSpotPhotos } from '../../daemon/util/spots-dir.js';
import { loadManifest } from '../../daemon/extractor/manifest.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { EVAL_TEST_BASE } from '../helpers/eval-base.js';

const base = EVAL_TEST_BASE;

t.test('a k = 4 run over the broker: report shape, dummies never become results, the record holds only what the server saw', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enfpire-eval-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const recordPath = join(dir, 'record.jsonl');
  const truthPath = join(dir, 'truth.jsonl');
  const guessesPath = join(dir, 'guesses.jsonl');
  const report: EvalReport = await runEval({ ...base, k: 4, recordPath, truthPath, guessesPath });
  const spots = (await listSpotPhotos(sampleSpotsDir)).length;
  const model = await loadManifest(defaultModelManifest);
  const dimension = model.output.dimension;

  t.match(report, {
    k: 4,
    spots,
    seed: 3,
    users: 2,
    decoys: 'wearer',
    camera: 'continuous',
    model: model.id,
    threshold: model.output.threshold,
    broker: { embedded: true, protocolVersion: 4 },
    adversaries: { naive_top1: Number, popularity_bayes: Number, component_test: Number, arrival_attack: Number, path_attack: Number },
  });
  for (const key of ['baseline_top1', 'user_top1', 'server_top1', 'trajectory_acc', 'dummy_auc', 'component_auc'] as const) {
    t.ok(report[key] >= 0 && report[key] <= 1, `${key} ${report[key]} is a rate`);
  }
  t.equal(report.server_top1, Math.max(...Object.values(report.adversaries)), 'server_top1 is the best spot attack');
  t.equal(report.trajectory_acc, Math.max(report.adversaries.path_attack, report.adversaries.path_attack_hmm, report.adversaries.path_attack_exhaustive));
  t.ok(report.real_queries > 0, `some real queries (${report.real_queries})`);
  t.ok(report.dummy_queries > report.real_queries, 'cover traffic outnumbers real queries');
  t.equal(report.queries, report.real_queries + report.dummy_queries);
  t.ok(report.results > 0 && report.results <= report.photos, `results only for frames the cameras showed (${report.results} of ${report.photos})`);
  t.ok(report.world.noSpotShare.glasses! > 0.3, `the glasses saw frames of no spot (${report.world.noSpotShare.glasses})`);
  t.ok(report.world.cosine.consecutiveDwell.mean > report.world.cosine.independentViews.mean, 'consecutive frames of a dwell are more alike than independent views');
  const floorWorlds = report.central_spot_floor_worlds;
  t.equal(floorWorlds.worlds, 50, 'the floor over other worlds of the folder');
  t.ok(floorWorlds.mean > 0 && floorWorlds.mean < 1 && floorWorlds.sd > 0, `worlds differ in where their wearers stood (${JSON.stringify(floorWorlds)})`);
  t.ok(Math.abs(report.central_spot_floor - floorWorlds.mean) <= 4 * floorWorlds.sd + 0.05, `this world's floor ${report.central_spot_floor} is a draw from them`);
  t.ok(report.user_top1 >= 0.8, `user_top1 ${report.user_top1}`);
  t.ok(report.no_spot.frames > 0 && report.no_spot.admitted >= 0 && report.no_spot.admitted <= 1, `frames of no spot and what the gate let through (${JSON.stringify(report.no_spot)})`);
  // Every query on the wire (dummies included) is paid for by the real results.
  t.ok(report.bytes_per_result > (report.queries / report.results) * dimension, `bytes_per_result ${report.bytes_per_result} counts dummies`);

  const lines = (await readFile(recordPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(lines.length, report.queries, 'one record line per query on the wire');
  const topics = new Set(lines.map((l) => l.reply_topic as string));
  const times = lines.map((l) => l.t as number);
  t.ok(lines.every((l) => Object.keys(l).sort().join() === 'candidates,replyTopicPlaceholder'.replace('replyTopicPlaceholder', 'reply_topic,t,topM,vector')), 'each line holds only t, reply_topic, vector, topM, candidates');
  t.ok(times.every((x, i) => i === 0 || x >= times[i - 1]), 'simulated arrival times in order');
  t.ok(lines.every((l) => (l.vector as number[]).length === dimension), 'dequantised vectors of the model dimension');
  t.ok(lines.every((l) => (l.candidates as string[]).length === Math.min(l.topM as number, spots)), 'candidate ids as replied');
  t.ok([...topics].every((x) => /^enfpire\/v1\/reply\/[0-9a-f]{22}$/.test(x)), 'random reply topics');
  t.equal(topics.size, 2, 'each simulated user has its own random reply topic');
  const text = await readFile(recordPath, 'utf8');
  for (const word of ['spot"', 'real', 'dummy', 'user', 'truth']) t.notOk(text.includes(word), `no "${word}" field in the record`);

  // The ground truth, line for line beside the record, for attacks of one's own.
  const truths = (await readFile(truthPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { user: number; spot: string | null; offGallery?: boolean });
  t.equal(truths.length, lines.length, 'one truth line per record line');
  t.equal(truths.filter((x) => x.spot !== null || x.offGallery).length, report.real_queries, 'the real queries are marked');
  t.same(new Set(truths.map((x) => x.user)), new Set([0, 1]), 'each line names its device');

  // Each attack's guesses, line for line: scored against the truth they give the report's figures.
  const guesses = (await readFile(guessesPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string | null>);
  t.equal(guesses.length, lines.length, 'one guesses line per record line');
  t.same(Object.keys(guesses[0]).sort(), Object.keys(report.adversaries).sort(), 'a guess from every attack');
  const real = truths.flatMap((x, i) => (x.spot !== null && !x.offGallery ? [i] : []));
  for (const name of Object.keys(report.adversaries)) {
    const hits = real.filter((i) => guesses[i][name] === truths[i].spot).length;
    t.equal(Math.round((hits / real.length) * 1e4) / 1e4, report.adversaries[name], `${name} from its guesses`);
  }
  t.same(Object.keys(report.dummy_auc_track_by), ['gap', 'appeared', 'since', 'until', 'exact_appeared', 'exact_since', 'exact_until'], 'the track classifier one feature at a time, on OMP and on exact components');
  t.ok(report.dummy_auc >= Math.max(...Object.values(report.dummy_auc_by), report.timing_auc, report.topm_auc), 'dummy_auc is the best classifier, one group of features included');

  // The same record attacked again without devices (--replay): the server's figures come back exactly.
  const replayed = await runEval({ ...base, k: 4, replay: { recordPath, truthPath } });
  t.equal(replayed.replayed_from, recordPath);
  t.same(replayed.adversaries, report.adversaries, 'every attack reads the replayed record as it read the run');
  t.equal(replayed.dummy_auc, report.dummy_auc);
  t.equal(replayed.queries, report.queries);
  t.equal(replayed.results, 0, 'no device ran, so nothing was answered');
  await t.rejects(runEval({ ...base, k: 4, replay: { recordPath, truthPath }, recordPath: join(dir, 'again.jsonl') }), /--replay reads a record; it cannot write one/);
  await t.rejects(runEval({ ...base, k: 4, replay: { recordPath: join(dir, 'none.jsonl'), truthPath } }), /cannot read .*none\.jsonl/);
});

t.test('a photo camera with lockstep phantoms: photos only while standing, far fewer real queries', async (t) => {
  const report = await runEval({ ...base, k: 4, camera: 'photos', decoys: 'lockstep', users: 1, minutes: 8 });
  t.match(report, { camera: 'photos', decoys: 'lockstep' });
  t.ok(report.real_queries < report.queries / 10, `a photo every 20-90 s against a slot a second (${report.real_queries} of ${report.queries})`);
  t.ok(report.results <= report.real_queries + report.photos);
});

t.test('k = 1 is no privacy: the attacks recover the baseline (they can win)', async (t) => {
  const report = await runEval({ ...base, k: 1 });
  t.ok(report.real_queries > 0);
  // Every real query of a spot carries the feature itself: the naive top-1 is plain recognition of those frames.
  t.ok(report.server_top1 >= 0.9, `server_top1 ${report.server_top1}: with k = 1 the server names the spot`);
  // With privacy off the device answers exactly as plain recognition does: same resolver, same threshold.
  t.equal(report.user_top1, report.baseline_top1, 'k = 1 costs the user nothing');
});

t.test('an external MQTT v5 broker (Mosquitto) serves the same pipeline', async (t) => {
  const mosquitto = await startMosquitto();
  t.teardown(() => mosquitto.stop());
  const report = await runEval({ ...base, k: 2, users: 1, minutes: 3, brokerUrl: mosquitto.url });
  t.match(report.broker, { embedded: false, protocolVersion: 5 });
  // The first query leaves 3 s after the camera's first frame, 8 s after the start at most (startStationary).
  t.ok(report.queries >= 172 && report.queries <= 177, `one query per slot once the first has left: 3 simulated minutes at 1 slot/s (${report.queries})`);
  t.ok(report.results > 0);
});

t.test('an earlier day (--history-minutes): the devices restart on their files and only the measured day is on the record', async (t) => {
  const report = await runEval({ ...base, k: 2, users: 1, minutes: 1, historyMinutes: 2 });
  t.equal(report.history_minutes, 2);
  t.ok(report.queries >= 52 && report.queries <= 57, `one query per slot of the measured minute after the first-query wait: the earlier day is not attacked (${report.queries})`);
  t.ok(report.results > 0);
  await t.rejects(runEval({ ...base, historyMinutes: -1 }), /--history-minutes must be a number of minutes >= 0/);
});

t.test('a spots folder with no photographs of no spot beside it is refused before any enrolment', async (t) => {
  const dir = t.testdir();
  const spotsDir = join(dir, 'spots');
  await cp(sampleSpotsDir, spotsDir, { recursive: true });
  // The model does not exist either: the off-gallery check must come first, not after minutes of enrolment.
  await t.rejects(runEval({ ...base, spotsDir, modelManifest: join(dir, 'no-such-model.json'), k: 4 }), {
    name: 'UserError',
    message: /no photographs of no spot .*pass --offgallery DIR/,
  });
});
