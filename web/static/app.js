// The demo page: a job editor, the live list of jobs, actions on the selected
// job, the live feed buttons and a player. Plain ES modules, no build step.

import { api, ApiError, token } from './api.js';
import { streamJobs } from './jobsource.js';
import { packagings, ladders, buildSpec } from './templates.js';
import { Player } from './player.js';

const $ = (id) => document.getElementById(id);

const els = {
  status: $('status'),
  spec: $('spec'),
  errors: $('spec-errors'),
  errorsTitle: $('spec-errors-title'),
  errorsList: $('spec-errors-list'),
  packaging: $('tpl-packaging'),
  ladder: $('tpl-ladder'),
  body: $('jobs-body'),
  empty: $('jobs-empty'),
  updated: $('jobs-updated'),
  selectedId: $('selected-id'),
  details: $('details'),
  detailsJson: $('details-json'),
};

const state = {
  jobs: new Map(), // id → job record, as last listed
  selected: null, // job id
  selectedListed: false, // the selected job has been seen in a list
  feeding: new Set(), // ids whose live feed this page started
  playFailedAt: 0,
  viewerURLs: new Map(), // job id → { url, thumbnail, expires } under a viewer token
  tokenFetches: new Map(), // job id → its viewer token request in flight
  tokenFailedAt: new Map(), // job id → when its last viewer token request failed
  vod: null, // the URL of the recording or clip the player plays instead of the live job
};

// VIEWER_TTL is how long the page's viewer tokens last (the API's maximum):
// a token that expires stops playback at the next manifest refresh.
const VIEWER_TTL = 86400;

// THUMBNAIL_EVERY is how often the list reloads the thumbnails (ms); the
// transcoder rewrites each every 2 s.
const THUMBNAIL_EVERY = 3000;

const player = new Player($('video-container'), $('video'), $('player-note'));

// ---- status line -----------------------------------------------------------

function say(text, isError = false) {
  els.status.textContent = text;
  els.status.classList.toggle('error', isError);
}

function problemText(err) {
  if (err instanceof ApiError) {
    const p = err.problem;
    const head = p.title || `HTTP ${err.status}`;
    return p.detail && p.detail !== head ? `${head}: ${p.detail}` : head;
  }
  return err.message || String(err);
}

// ---- editor and templates --------------------------------------------------

function fillTemplates() {
  for (const [key, p] of Object.entries(packagings)) els.packaging.add(new Option(p.label, key));
  for (const [key, l] of Object.entries(ladders)) els.ladder.add(new Option(l.label, key));
  els.packaging.value = 'dash-fmp4';
  els.ladder.value = 'sample';
}

async function loadSample() {
  try {
    const res = await fetch('/web/sample_live_job.json');
    els.spec.value = await res.text();
  } catch {
    els.spec.value = JSON.stringify(buildSpec('dash-fmp4', 'sample'), null, 4);
  }
  clearSpecErrors();
}

function applyTemplate(event) {
  event.preventDefault();
  els.spec.value = JSON.stringify(buildSpec(els.packaging.value, els.ladder.value), null, 4);
  clearSpecErrors();
  say(`Template: ${packagings[els.packaging.value].label}, ${ladders[els.ladder.value].label}`);
}

function clearSpecErrors() {
  els.errors.hidden = true;
  els.errorsList.replaceChildren();
  els.spec.removeAttribute('aria-invalid');
}

// showSpecErrors lists each bad field next to its message.
function showSpecErrors(title, fieldErrors) {
  els.errorsTitle.textContent = title;
  els.errorsList.replaceChildren(
    ...fieldErrors.map(({ field, message }) => {
      const li = document.createElement('li');
      li.dataset.field = field || '';
      const f = document.createElement('code');
      f.className = 'field';
      f.textContent = field || '(spec)';
      const m = document.createElement('span');
      m.className = 'message';
      m.textContent = message;
      li.append(f, m);
      return li;
    }),
  );
  els.errors.hidden = false;
  els.spec.setAttribute('aria-invalid', 'true');
}

async function createJob() {
  clearSpecErrors();
  const text = els.spec.value;
  try {
    JSON.parse(text);
  } catch (err) {
    showSpecErrors('The spec is not valid JSON.', [{ field: '', message: err.message }]);
    return;
  }
  try {
    const job = await api.createJob(text);
    say(`Created job ${job.Id}`);
    if (job.Job_validation_warnings && job.Job_validation_warnings.length) {
      say(`Created job ${job.Id} with warnings: ${job.Job_validation_warnings.join('; ')}`);
    }
    state.jobs.set(job.Id, job);
    select(job.Id);
    jobs.refresh();
  } catch (err) {
    if (err instanceof ApiError && err.fieldErrors.length) {
      showSpecErrors(problemText(err), err.fieldErrors);
      say('The spec was rejected: see the fields under the editor.', true);
    } else {
      say(`Create failed: ${problemText(err)}`, true);
    }
  }
}

// ---- job list --------------------------------------------------------------

const fmt = {
  fps: (s) => (s ? s.Fps.toFixed(1) : ''),
  kbps: (s) => (s ? Math.round(s.Bitrate_kbps).toLocaleString('en') : ''),
  speed: (s) => (s ? `${s.Speed.toFixed(2)}×` : ''),
  // reason: why a job failed, since when the origin does not take its
  // outputs, or since when its publisher's input is lost.
  reason: (job) => {
    const since = (t) => new Date(t).toLocaleTimeString();
    if (job.State === 'failed') return job.State_reason || '';
    if (job.Output_failing_since) return `outputs failing since ${since(job.Output_failing_since)}: ${job.Output_error || ''}`;
    if (job.Input_lost_since) return `input lost since ${since(job.Input_lost_since)}`;
    return '';
  },
};

function onJobs(list, { live = false } = {}) {
  list.sort((a, b) => String(b.Time_created).localeCompare(String(a.Time_created)));
  state.jobs = new Map(list.map((j) => [j.Id, j]));
  for (const id of state.feeding) if (!state.jobs.has(id)) state.feeding.delete(id);
  // A job just created may be missing from a poll that started before it;
  // deselect only a job that was listed and is gone (deleted).
  if (state.jobs.has(state.selected)) state.selectedListed = true;
  else if (state.selectedListed) select(null);
  renderJobs(list);
  const time = new Date().toLocaleTimeString();
  els.updated.textContent = live ? `live: server events (last ${time})` : `polled ${time}`;
  els.updated.classList.remove('error');
  renderSelection();
  syncPlayer();
  syncFeed();
}

function onJobsError(err) {
  if (err instanceof ApiError && err.status === 401) askForToken();
  els.updated.textContent = `cannot list jobs: ${problemText(err)}`;
  els.updated.classList.add('error');
}

// renderJobs updates rows in place, so focus and selection survive a poll.
function renderJobs(list) {
  const rows = new Map([...els.body.rows].map((tr) => [tr.dataset.jobId, tr]));
  list.forEach((job, i) => {
    let tr = rows.get(job.Id);
    if (!tr) tr = newRow(job.Id);
    rows.delete(job.Id);
    updateRow(tr, job);
    if (els.body.rows[i] !== tr) els.body.insertBefore(tr, els.body.rows[i] || null);
  });
  for (const tr of rows.values()) tr.remove();
  els.empty.hidden = list.length > 0;
}

function newRow(id) {
  const tr = document.createElement('tr');
  tr.dataset.jobId = id;
  tr.innerHTML = `
    <td><input type="radio" name="job"></td>
    <td class="id"><code></code></td>
    <td class="thumb"><img alt="" hidden></td>
    <td><span class="state"></span><small class="reason"></small></td>
    <td class="node"></td>
    <td class="url ingest"><code></code> <button type="button" class="copy small">Copy</button></td>
    <td class="url playback"><a target="_blank" rel="noopener"></a></td>
    <td class="num fps"></td>
    <td class="num kbps"></td>
    <td class="num speed"></td>`;
  const radio = tr.querySelector('input');
  radio.value = id;
  radio.setAttribute('aria-label', `Select job ${id}`);
  radio.addEventListener('change', () => select(id));
  tr.addEventListener('click', (e) => {
    if (!e.target.closest('button, a, input')) select(id);
  });
  tr.querySelector('.copy').addEventListener('click', () => copyIngest(id));
  return tr;
}

function updateRow(tr, job) {
  const set = (sel, text) => {
    const el = tr.querySelector(sel);
    if (el.textContent !== text) el.textContent = text;
  };
  tr.dataset.state = job.State;
  set('.id code', job.Id);
  const badge = tr.querySelector('.state');
  badge.className = `state state-${job.State}`;
  set('.state', job.State);
  badge.title = job.State_reason || '';
  set('.reason', fmt.reason(job));
  set('.node', job.Assigned_worker_id || '—');
  set('.ingest code', job.RtmpIngestUrl || '—');
  tr.querySelector('.copy').hidden = !job.RtmpIngestUrl;
  tr.querySelector('.copy').setAttribute('aria-label', `Copy ingest URL of job ${job.Id}`);
  const a = tr.querySelector('.playback a');
  if (a.getAttribute('href') !== (job.Playback_url || null)) {
    if (job.Playback_url) a.href = job.Playback_url;
    else a.removeAttribute('href');
  }
  set('.playback a', job.Playback_url || '—');
  set('.fps', fmt.fps(job.Stats));
  set('.kbps', fmt.kbps(job.Stats));
  set('.speed', fmt.speed(job.Stats));
  const img = tr.querySelector('.thumb img');
  img.alt = `Latest frame of job ${job.Id}`;
  if (!showsThumbnail(job)) {
    img.hidden = true;
    img.removeAttribute('src');
  }
}

// ---- thumbnails ------------------------------------------------------------

// showsThumbnail: a job has a picture while it runs, if it has video and no
// DRM (the API then gives it a Thumbnail_url).
const showsThumbnail = (job) => Boolean(job.Thumbnail_url) && ['running', 'streaming'].includes(job.State);

// refreshThumbnails reloads each listed job's latest frame from the origin
// (an <img> cannot send the API token, so not through the API's redirect).
// The new frame is loaded aside and swapped in once decoded, so the row never
// blinks; an image that fails to load (none yet, or gone) hides the picture.
function refreshThumbnails() {
  for (const tr of els.body.rows) {
    const job = state.jobs.get(tr.dataset.jobId);
    if (!job || !showsThumbnail(job)) continue;
    const url = thumbnailURL(job);
    if (!url) continue;
    const img = tr.querySelector('.thumb img');
    const next = new Image();
    next.onload = () => {
      if (!showsThumbnail(state.jobs.get(job.Id) || {})) return;
      img.src = next.src;
      img.hidden = false;
      img.dataset.loadedAt = String(Date.now());
    };
    next.onerror = () => {
      img.hidden = true;
    };
    // The origin serves thumbnails "no-cache"; the query makes each load a
    // new image for the browser, and the origin ignores it.
    next.src = `${url}${url.includes('?') ? '&' : '?'}t=${Date.now()}`;
  }
}

// thumbnailURL is where the page loads job's thumbnail: its Thumbnail_url,
// or for a signed job the one under its viewer token; null while that token
// is being asked for.
function thumbnailURL(job) {
  if (job.Spec?.Playback_policy !== 'signed') return job.Thumbnail_url;
  const v = knownViewerURLs(job);
  if (v) return v.thumbnail || null;
  viewerURLs(job).catch(() => {});
  return null;
}

async function copyIngest(id) {
  const url = state.jobs.get(id)?.RtmpIngestUrl;
  if (!url) return;
  try {
    await navigator.clipboard.writeText(url);
  } catch {
    // Outside a secure context there is no async clipboard.
    const ta = Object.assign(document.createElement('textarea'), { value: url });
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  say(`Copied ${url}`);
}

// ---- selection and actions -------------------------------------------------

function select(id) {
  if (state.selected === id) return;
  state.selected = id;
  state.selectedListed = false;
  state.playFailedAt = 0;
  state.vod = null;
  $('recordings-list').replaceChildren();
  player.stop();
  renderSelection();
  syncPlayer();
}

const can = {
  show: () => true,
  stop: (j) => ['created', 'scheduled', 'running', 'streaming'].includes(j.State),
  resume: (j) => ['stopped', 'failed'].includes(j.State),
  delete: (j) => ['stopped', 'failed'].includes(j.State),
  'feed-start': (j) => ['running', 'streaming'].includes(j.State) && Boolean(j.RtmpIngestUrl),
  'feed-stop': () => true,
  recordings: () => true,
};

function renderSelection() {
  const job = state.jobs.get(state.selected);
  els.selectedId.textContent = state.selected || 'none';
  for (const tr of els.body.rows) {
    const on = tr.dataset.jobId === state.selected;
    tr.classList.toggle('selected', on);
    tr.querySelector('input').checked = on;
  }
  for (const [id, ok] of Object.entries(can)) {
    $(id).disabled = !job || !ok(job);
  }
  if (state.feedUnavailable) {
    $('feed-start').disabled = $('feed-stop').disabled = true;
    $('feed-start').title = 'This server has no live feed';
  }
  $('feed-start').textContent = job && state.feeding.has(job.Id) ? 'Live feed on' : 'Start live feed';
  $('feed-start').setAttribute('aria-pressed', String(Boolean(job && state.feeding.has(job.Id))));
}

async function act(verb, call, after) {
  const id = state.selected;
  if (!id) return;
  try {
    await call(id);
    say(`${verb}: job ${id}`);
    if (after) after(id);
  } catch (err) {
    say(`${verb} failed for job ${id}: ${problemText(err)}`, true);
  }
  jobs.refresh();
}

async function show() {
  const id = state.selected;
  try {
    const job = await api.getJob(id);
    els.detailsJson.textContent = JSON.stringify(job, null, 2);
    els.details.open = true;
    say(`Job ${id}`);
  } catch (err) {
    say(`Show failed for job ${id}: ${problemText(err)}`, true);
  }
}

function wireActions() {
  $('template-form').addEventListener('submit', applyTemplate);
  $('tpl-sample').addEventListener('click', loadSample);
  $('create').addEventListener('click', createJob);
  $('show').addEventListener('click', show);
  $('stop').addEventListener('click', () =>
    act('Stop requested', async (id) => {
      if (state.feeding.has(id)) await api.stopFeed(id).catch(() => {});
      state.feeding.delete(id);
      await api.stopJob(id);
    }),
  );
  $('resume').addEventListener('click', () => act('Resume requested', api.resumeJob));
  $('delete').addEventListener('click', () => {
    const id = state.selected;
    if (id && !window.confirm(`Delete job ${id} and its outputs?`)) return;
    act('Delete requested', api.deleteJob);
  });
  $('feed-start').addEventListener('click', () =>
    act('Live feed started', api.startFeed, (id) => state.feeding.add(id)),
  );
  $('feed-stop').addEventListener('click', () =>
    act('Live feed stopped', api.stopFeed, (id) => state.feeding.delete(id)),
  );
  $('recordings').addEventListener('click', listRecordings);
  $('back-to-live').addEventListener('click', () => {
    state.vod = null;
    player.stop();
    syncPlayer();
  });
}

// ---- recordings and clips ----------------------------------------------------

// listRecordings shows the selected job's recordings, each with buttons that
// play it (HLS or DASH) or a clip of its last 30 s.
async function listRecordings() {
  const id = state.selected;
  if (!id) return;
  let recs;
  try {
    recs = (await api.recordings(id)).Recordings;
  } catch (err) {
    say(`Recordings of job ${id}: ${problemText(err)}`, true);
    return;
  }
  const list = $('recordings-list');
  list.replaceChildren(
    ...recs.map((r) => {
      const li = document.createElement('li');
      li.dataset.run = r.Run;
      li.append(`${r.Run}: ${r.Duration.toFixed(1)} s, ${(r.Bytes / 1e6).toFixed(1)} MB `);
      for (const url of r.Playback_urls) {
        li.append(playButton(`Play ${url.endsWith('.mpd') ? 'DASH' : 'HLS'}`, url, `recording ${r.Run}`));
      }
      const clip = document.createElement('button');
      clip.type = 'button';
      clip.className = 'small clip';
      clip.textContent = 'Clip last 30 s';
      clip.addEventListener('click', () => playClip(id, r.Run));
      li.append(' ', clip);
      return li;
    }),
  );
  if (recs.length === 0) list.textContent = 'No recording yet.';
  $('recordings-panel').open = true;
}

function playButton(label, url, what) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'small play';
  b.textContent = label;
  b.addEventListener('click', () => playVOD(url, what));
  return b;
}

// playVOD plays a recording or clip; the live job's player leaves it alone
// until "Back to live" or another job is selected.
function playVOD(url, what) {
  state.vod = url;
  player.play(url, what).catch((err) => player.say(`Could not play ${what}: ${err.code ? `Shaka error ${err.code}` : err.message}`, true));
}

async function playClip(id, run) {
  try {
    const clip = await api.clip(id, 30, 0, run);
    say(`Clip of ${run}: ${clip.Start} to ${clip.End}, cut ${clip.Cut}`);
    playVOD(clip.Playback_urls[0], `clip of ${run}`);
  } catch (err) {
    say(`Clip of ${run} failed: ${problemText(err)}`, true);
  }
}

// ---- player ----------------------------------------------------------------

// syncPlayer plays the selected job while it is streaming, retrying a failed
// load every few seconds (the first manifest may not be on the origin yet).
function syncPlayer() {
  if (state.vod) return; // a recording or clip plays
  const job = state.jobs.get(state.selected);
  if (!job) {
    player.stop('Select a job; it plays once it is streaming.');
    return;
  }
  if (job.State !== 'streaming' || !job.Playback_url) {
    const why = job.State === 'running' ? 'waiting for media: start the live feed or push RTMP to the ingest URL' : job.State;
    player.stop(`Job ${job.Id} is ${why}.`);
    return;
  }
  const url = knownPlaybackURL(job);
  if ((url && player.url === url) || Date.now() - state.playFailedAt < 3000 || state.tokenFetches.has(job.Id)) return;
  const lowLatency = Boolean(job.Spec?.Output?.Low_latency_mode);
  playbackURL(job)
    .then((u) => player.url !== u && state.selected === job.Id && player.play(u, `job ${job.Id}`, { lowLatency }))
    .catch((err) => {
      state.playFailedAt = Date.now();
      player.say(`Could not load ${job.Playback_url} yet (${err.code ? `Shaka error ${err.code}` : err.message}); retrying…`, true);
    });
}

// needsViewerToken: a signed job's outputs, and a DRM job's keys, are served
// only to a viewer token (POST /jobs/:id/playback_tokens).
const needsViewerToken = (job) => job.Spec?.Playback_policy === 'signed' || Boolean(job.Spec?.Output?.Drm);

// knownPlaybackURL is the URL the page plays job at, when it needs no new
// token: its Playback_url, or the URL of a viewer token that lasts another
// minute at least; null otherwise.
function knownPlaybackURL(job) {
  if (!needsViewerToken(job)) return job.Playback_url;
  return knownViewerURLs(job)?.url || null;
}

// knownViewerURLs are job's URLs under a viewer token that lasts another
// minute at least; null when there is none.
function knownViewerURLs(job) {
  const v = state.viewerURLs.get(job.Id);
  return v && v.expires - Date.now() > 60_000 ? v : null;
}

// playbackURL resolves to knownPlaybackURL, asking for a viewer token when
// there is none: its URL carries the token in the path (the origin's
// /play/<token>/<job id>/), and the origin writes it into the manifests'
// license and key URIs, so the player needs no setup.
async function playbackURL(job) {
  return knownPlaybackURL(job) || (await viewerURLs(job)).url;
}

// viewerURLs resolves to knownViewerURLs, asking for a viewer token when
// there is none; one request per job at a time, and none for 5 s after one
// failed (the list asks again at every refresh).
function viewerURLs(job) {
  const known = knownViewerURLs(job);
  if (known) return Promise.resolve(known);
  if (state.tokenFetches.has(job.Id)) return state.tokenFetches.get(job.Id);
  if (Date.now() - (state.tokenFailedAt.get(job.Id) || 0) < 5000) return Promise.reject(new Error('no viewer token yet'));
  const fetching = api
    .playbackToken(job.Id, VIEWER_TTL)
    .then((t) => {
      const v = { url: t.Playback_url, thumbnail: t.Thumbnail_url, expires: Date.parse(t.Expires) };
      state.viewerURLs.set(job.Id, v);
      return v;
    })
    .catch((err) => {
      state.tokenFailedAt.set(job.Id, Date.now());
      throw err;
    })
    .finally(() => state.tokenFetches.delete(job.Id));
  state.tokenFetches.set(job.Id, fetching);
  return fetching;
}

// askForToken shows the token field: the API wants a bearer token.
function askForToken() {
  const form = $('token-form');
  if (!form.hidden) return;
  form.hidden = false;
  say('This API needs a bearer token.', true);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token.set($('token').value.trim());
    form.hidden = true;
    say('Token set.');
    jobs.refresh();
  });
}

// syncFeed asks the server whether the selected job is being fed, so the
// buttons tell the truth after a reload or another tab's click.
async function syncFeed() {
  const id = state.selected;
  if (!id || !state.jobs.has(id)) return;
  try {
    const { Running } = await api.feedStatus(id);
    if (Running) state.feeding.add(id);
    else state.feeding.delete(id);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
      state.feedUnavailable = err.status === 405 || err.problem?.code !== 'not_found';
    }
  }
  if (id === state.selected) renderSelection();
}

// ---- start -----------------------------------------------------------------

fillTemplates();
wireActions();
renderSelection();
loadSample();
const jobs = streamJobs({ onJobs, onError: onJobsError, token: token.get() });
setInterval(refreshThumbnails, THUMBNAIL_EVERY);
