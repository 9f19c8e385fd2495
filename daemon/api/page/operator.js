// The operator's page: reads /status, /events, /results, /config and /thumbnail.jpg of the same origin, nothing else.
// Everything from the daemon goes in with textContent, never as HTML.
'use strict';

const MAX_RESULTS = 50;
const $ = (selector) => document.querySelector(selector);
const field = (name) => document.querySelector(`[data-field="${name}"]`);

function show(name, text, state) {
  const el = field(name);
  el.textContent = text;
  el.classList.toggle('bad', state === 'bad');
  el.classList.toggle('good', state === 'good');
}

const num = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(digits));
const mib = (bytes) => (bytes === null || bytes === undefined ? '–' : `${(bytes / 1048576).toFixed(0)} MiB`);
const ms = (x) => (x === null || x === undefined ? '–' : `${Math.round(x)} ms`);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function addResult(result, source) {
  const list = $('#results');
  list.querySelector('.empty')?.remove();
  const item = document.createElement('li');
  item.dataset.source = source;
  if (result.spot_id === null) item.classList.add('unknown');
  const time = document.createElement('time');
  time.dateTime = result.at;
  time.textContent = new Date(result.at).toLocaleTimeString();
  const spot = document.createElement('span');
  spot.className = 'spot';
  const name = result.info && typeof result.info.name === 'string' ? ` “${result.info.name}”` : '';
  spot.textContent = result.spot_id === null ? 'no known spot' : `${result.spot_id}${name}`;
  const detail = document.createElement('span');
  detail.className = 'muted';
  const how = result.from_cache === undefined ? '' : result.from_cache ? ' · cache' : ' · query';
  detail.textContent = `${result.score.toFixed(2)}${result.latency_ms === undefined ? '' : ` · ${result.latency_ms} ms`}${how}`;
  item.append(time, spot, detail);
  if (source === 'live') list.prepend(item);
  else list.append(item);
  while (list.children.length > MAX_RESULTS) list.lastElementChild.remove();
}

let previous = null;

function rate(now, then, key, seconds) {
  return then && seconds > 0 ? (now.counters[key] - then.counters[key]) / seconds : null;
}

function render(status) {
  $('#identity').textContent = `${status.version} · model ${status.model} · up ${duration(Math.round(status.uptime_s))}`;
  const broker = status.broker;
  show('broker', broker ? `${broker.state}, ${broker.pending} waiting, ${broker.timeouts} timeouts` : 'not used', broker && broker.state !== 'connected' ? 'bad' : 'good');
  const t = status.telemetry;
  show('temperature', t && t.cpu_temperature_c !== null ? `${num(t.cpu_temperature_c, 1)} °C` : 'no sensor');
  const throttled = t ? t.throttled_now : null;
  show('throttled', throttled === null ? 'unknown' : throttled ? 'yes' : 'no', throttled ? 'bad' : undefined);
  show('load', t ? t.load_average.map((x) => num(x, 2)).join(' / ') : '–');
  show('memory', t ? mib(t.memory_available_bytes) : '–');
  show('rss', t ? mib(t.process_rss_bytes) : '–');
  const seconds = previous ? status.uptime_s - previous.uptime_s : 0;
  const fps = rate(status, previous, 'frames', seconds);
  const gated = rate(status, previous, 'frames_gated', seconds);
  show('fps', `${fps === null ? '–' : num(fps, 1)} /s (${status.counters.frames} in all, ${status.counters.frames_dropped} dropped)`);
  show('gated', `${gated === null ? '–' : num(gated, 1)} /s (${status.counters.frames_gated} in all)`);
  const thermal = status.thermal;
  show('target_fps', thermal ? `${num(thermal.target_fps, 1)} of ${num(thermal.base_fps, 1)} fps${thermal.throttled ? ' (cooling down)' : ''}` : '–', thermal?.throttled ? 'bad' : undefined);
  const all = status.latency_ms?.all;
  show('latency', all ? `${ms(all.p50)} / ${ms(all.p95)} / ${ms(all.p99)}` : '–');
  show('errors', `${status.counters.errors} frames (${status.counters.frames_failed} failed after retries), ${status.counters.failed_queries} queries`, status.counters.errors + status.counters.failed_queries > 0 ? 'bad' : undefined);

  const p = status.privacy;
  const c = status.counters;
  const sent = c.real_queries + c.dummy_queries;
  show('transform', p ? p.transform : '–');
  show('k', p ? String(p.k) : '–', p && p.k < 2 ? 'bad' : undefined);
  show('queries', `${c.real_queries} / ${c.dummy_queries}${sent > 0 ? ` (${Math.round((100 * c.dummy_queries) / sent)} % cover)` : ''}`);
  show('identity_age', p ? `${duration(p.identity_age_s)}${p.identity_rotations > 0 ? `, ${p.identity_rotations} changes` : ''}` : '–');
  const pack = p?.region_pack;
  show('region_pack', pack ? `${pack.region} · version ${pack.gallery_version} · ${pack.spots} spots` : 'none', pack ? undefined : 'bad');
  show('signature', pack ? pack.signature : '–', pack?.signature === 'invalid' ? 'bad' : pack?.signature === 'verified' ? 'good' : undefined);
  previous = status;
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  return res.ok ? res.json() : null;
}

async function poll() {
  try {
    const status = await getJson('/status');
    if (status) render(status);
  } catch {
    // The daemon is restarting; the next poll tries again.
  }
}

function startThumbnail(settings) {
  if (!settings || !settings.enabled) {
    $('#thumb-off').hidden = false;
    return;
  }
  const img = $('#thumb');
  img.hidden = false;
  // One request at a time: the next starts when the previous picture has arrived (or failed).
  const next = () => setTimeout(() => (img.src = `/thumbnail.jpg?t=${Date.now()}`), 1000 / settings.fps);
  img.addEventListener('load', next);
  img.addEventListener('error', next);
  img.src = `/thumbnail.jpg?t=${Date.now()}`;
}

async function start() {
  const profile = await getJson('/config').catch(() => null);
  $('#profile-text').textContent = profile ? JSON.stringify(profile, null, 2) : 'not available';
  startThumbnail(profile?.api?.thumbnail);

  const history = await getJson('/results?limit=10').catch(() => null);
  for (const result of history?.results ?? []) addResult(result, 'history');

  const events = new EventSource('/events');
  const link = $('#link');
  events.addEventListener('open', () => {
    link.textContent = 'live';
    link.classList.add('ok');
  });
  events.addEventListener('error', () => {
    link.textContent = 'reconnecting…';
    link.classList.remove('ok');
  });
  events.addEventListener('result', (e) => addResult(JSON.parse(e.data), 'live'));

  await poll();
  setInterval(poll, 2000);
}

start();
