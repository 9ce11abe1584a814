// DVR, recordings and clips in the browser: an HLS and a DASH job (2 s fMP4
// segments, one small rendition, a 90 s DVR window: Time_shift_buffer_depth)
// are created over the API, fed by the server's test pattern, and streamed
// until each player's seek range spans 65 s at least. Each player then seeks
// back 60 s from the live edge and must play there: Shaka and hls.js for
// HLS, Shaka and dash.js for DASH (web/players.mjs, bare pages). Then the
// job is stopped and its one recording checked: it holds every segment the
// run uploaded (the segments before its first and after its last are not
// at the origin) and lasts what they last, within one segment; a clip of
// its last 30 s (POST /jobs/:id/clips) holds the segments around the
// Start and End the API answered. The recording and the clip must play in
// the same two players as VOD of that duration (within one segment), from
// the start, after a seek to the middle and to the last segment. The two
// jobs run at once. The seek range and where each player plays are printed.
// e2e's TestBrowserDVR runs this file with the origin on its S3 storage
// (fauxqs); ffprobe's reading of a recording is checked in e2e
// (TestLifecycle*, checkRecordings).
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/dvr.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../players.mjs';
import { apiJSON as api, chromiumPerFile, lightOutput, untilState, withStreamingJob } from '../testkit.mjs';

const UNTIL_STREAMING_MS = 120_000;
const UNTIL_PLAYING_MS = 60_000;
const DVR_S = 90; // the jobs' Time_shift_buffer_depth
const SPAN_S = 65; // the seek range a player must offer before the seek
const BACK_S = 60; // how far back from the live edge it seeks
const CLIP_S = 30;

const cases = [
  { name: 'HLS', stream: 'hls', segment: 2, players: ['shaka', 'hls.js'] },
  { name: 'DASH', stream: 'dash', segment: 2, players: ['shaka', 'dash.js'] },
];

const spec = (c) => ({ Output: { ...lightOutput(c.stream, c.segment), Time_shift_buffer_depth: DVR_S } });

const run = chromiumPerFile('ezlive-dvr');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function note(t, line) {
  t.diagnostic(line);
  run.report.push(line);
}

// openPlayer plays url in player on a bare page (web/players.mjs).
const openPlayer = (t, player, url) => open(run.browser.context, player, url, { timeoutMs: UNTIL_PLAYING_MS, onError: (msg) => t.diagnostic(`${player} ${msg}`) });

// state is what the page's video and player say now.
const state = (page) =>
  page.evaluate(() => {
    const v = document.getElementById('v');
    const buffered = [];
    for (let i = 0; i < v.buffered.length; i++) buffered.push([v.buffered.start(i), v.buffered.end(i)]);
    const range = globalThis.seekRange();
    return { time: v.currentTime, duration: v.duration, seeking: v.seeking, paused: v.paused, ended: v.ended, buffered, range, error: globalThis.playerError };
  });

const fmt = (r) => `${r.start.toFixed(1)}–${r.end.toFixed(1)}`;

// until waits in page for cond(arg) or the player's error; after timeoutMs
// it throws what with the page's state.
async function until(page, what, cond, arg, timeoutMs = 20_000) {
  try {
    await page.waitForFunction(cond, arg, { timeout: timeoutMs, polling: 250 });
  } catch {
    throw new Error(`${what}: ${JSON.stringify(await state(page))}`);
  }
  const s = await state(page);
  assert.equal(s.error, undefined, `${what}: player error`);
  return s;
}

const seek = (page, to) => page.evaluate((to) => (document.getElementById('v').currentTime = to), to);

// playsFrom waits until the video plays on past from after a seek.
const playsFrom = (page, what, from) =>
  until(page, `no playback ${what}`, (from) => {
    const v = document.getElementById('v');
    return globalThis.playerError || (!v.seeking && !v.paused && v.currentTime > from + 1);
  }, from);

// assertSeekBack plays the live job in player: once its seek range spans
// SPAN_S (without the window it would be six segments), it seeks to BACK_S
// behind the range's end and must play on from there.
async function assertSeekBack(t, c, player, url) {
  const name = `${c.name} in ${player}`;
  const page = await openPlayer(t, player, url);
  try {
    const spans = await until(page, `${name}: the seek range never spanned ${SPAN_S} s of a ${DVR_S} s DVR window`, (want) => {
      const r = globalThis.seekRange();
      return globalThis.playerError || r.end - r.start >= want;
    }, SPAN_S, 60_000);
    const target = spans.range.end - BACK_S;
    await seek(page, target);
    const there = await playsFrom(page, `${name}: after seeking back ${BACK_S} s to ${target.toFixed(1)}`, target);
    const behind = there.range.end - there.time;
    note(t, `DVR ${name}: seek range ${fmt(spans.range)} (${(spans.range.end - spans.range.start).toFixed(1)} s of a ${DVR_S} s window), playing at ${spans.time.toFixed(1)}; seeked to ${target.toFixed(1)}, plays at ${there.time.toFixed(1)}, ${behind.toFixed(1)} s behind the range's end ${there.range.end.toFixed(1)}`);
    // The range's end moves in steps of a segment (a playlist or MPD
    // reload) while the playhead moved on until the check saw it play: two
    // segments of slack. A player that went back to the live edge would
    // be a few segments behind it, not BACK_S.
    assert.ok(behind >= BACK_S - 2 * c.segment && there.time >= there.range.start, `${name}: not playing ${BACK_S} s back after the seek: ${JSON.stringify(there)}`);
  } finally {
    await page.close();
  }
}

// index reads the first rendition of a recording's or clip's manifest: an
// HLS master playlist's first media playlist, or a static MPD's first
// Representation. Each segment has its absolute URI, number, start (ms of
// program date-time: HLS's own, or start plus its MPD time), duration, and
// overlaps(a, b), whether it overlaps [a, b) in ms of program date-time,
// computed exactly in whole ms (HLS) or ticks (MPD) as the origin cuts;
// uriOf(number) names any segment of the rendition.
async function index(url, start) {
  const text = await get(url);
  return url.endsWith('.mpd') ? mpdIndex(text, url, start) : hlsIndex(text, url);
}

async function get(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.text();
}

async function hlsIndex(master, masterURL) {
  const url = new URL(master.split('\n').find((l) => l && !l.startsWith('#')), masterURL).href;
  const text = await get(url);
  const segments = [];
  let time = 0;
  let duration = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) time = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith('#')) {
      const [from, ms] = [time, Math.round(duration * 1000)];
      segments.push({ uri: new URL(line, url).href, number: Number(/-(\d+)\.\w+$/.exec(line)[1]), time, duration, overlaps: (a, b) => from + ms > a && from < b });
      time += duration * 1000;
    }
  }
  assert.ok(text.includes('#EXT-X-ENDLIST') && text.includes('#EXT-X-PLAYLIST-TYPE:VOD'), `${url} is not VOD with ENDLIST`);
  const last = segments.at(-1).uri;
  return { segments, uriOf: (n) => last.replace(/-\d+(\.\w+)$/, `-${n}$1`) };
}

function mpdIndex(text, url, start) {
  assert.match(text, /type="static"/, `${url} is not a static MPD`);
  const rep = /<Representation\b[^>]*\bid="([^"]+)"[\s\S]*?<\/Representation>/.exec(text);
  assert.ok(rep, `${url}: no Representation`);
  const attr = (s, name) => new RegExp(`\\b${name}="([^"]*)"`).exec(s)?.[1];
  const tmpl = /<SegmentTemplate\b[^>]*>/.exec(rep[0])[0];
  const timescale = Number(attr(tmpl, 'timescale') ?? 1);
  const uriOf = (n) =>
    new URL(attr(tmpl, 'media').replace('$RepresentationID$', rep[1]).replace(/\$Number(?:%0(\d+)d)?\$/, (_, w) => String(n).padStart(Number(w ?? 0), '0')), url).href;
  const segments = [];
  let number = Number(attr(tmpl, 'startNumber') ?? 1);
  let t = 0;
  let t0;
  for (const [s] of rep[0].matchAll(/<S\b[^>]*>/g)) {
    t = Number(attr(s, 't') ?? t);
    t0 ??= t;
    const d = Number(attr(s, 'd'));
    for (let i = 0; i <= Number(attr(s, 'r') ?? 0); i++, number++, t += d) {
      // overlaps compares in ms × timescale, exactly, as the origin cuts.
      const rel = t - t0;
      segments.push({ uri: uriOf(number), number, time: start + (rel / timescale) * 1000, duration: d / timescale,
        overlaps: (a, b) => (rel + d) * 1000 > (a - start) * timescale && rel * 1000 < (b - start) * timescale });
    }
  }
  return { segments, uriOf };
}

const total = (segments) => segments.reduce((d, s) => d + s.duration, 0);
const status = async (uri) => (await fetch(uri, { method: 'HEAD' })).status;

// assertRecording stops the job and checks its one recording and a clip
// of its last CLIP_S, then plays both in c's players.
async function assertRecording(t, c, job) {
  await api('PUT', `/jobs/${job.Id}/stop`);
  await untilState(job.Id, ['stopped'], 60_000);
  const { Recordings: recs } = await api('GET', `/jobs/${job.Id}/recordings`);
  assert.equal(recs.length, 1, `${c.name}: recordings ${JSON.stringify(recs)}`);
  const rec = recs[0];
  const url = rec.Playback_urls.find((u) => u.endsWith(c.stream === 'hls' ? '.m3u8' : '.mpd'));
  assert.ok(url, `${c.name}: no ${c.stream} playback URL in ${JSON.stringify(rec)}`);
  const vod = await index(url, Date.parse(rec.Program_start ?? rec.Started));
  const [first, last] = [vod.segments[0], vod.segments.at(-1)];
  const streamed = (last.number - first.number + 1) * c.segment;
  const duration = total(vod.segments);
  note(t, `recording ${c.name} ${rec.Run}: ${vod.segments.length} segments ${first.number}–${last.number}, ${duration.toFixed(2)} s; its info ${rec.Duration} s, ${rec.Bytes} bytes`);
  assert.equal(vod.segments.length, last.number - first.number + 1, `${c.name}: the recording misses segments between ${first.number} and ${last.number}`);
  for (const n of [first.number - 1, last.number + 1]) {
    assert.equal(await status(vod.uriOf(n)), 404, `${c.name}: ${vod.uriOf(n)} was uploaded but is not in the recording`);
  }
  assert.equal(await status(last.uri), 200, `${c.name}: ${last.uri}`);
  assert.ok(streamed >= SPAN_S, `${c.name}: the run uploaded ${streamed} s`);
  assert.ok(Math.abs(duration - streamed) <= c.segment && Math.abs(rec.Duration - duration) <= c.segment, `${c.name}: the recording lasts ${duration} s (its info ${rec.Duration} s), the run uploaded ${streamed} s`);

  const clip = await api('POST', `/jobs/${job.Id}/clips`, { Start: CLIP_S, End: 0 });
  const [from, to] = [Date.parse(clip.Start), Date.parse(clip.End)];
  assert.equal(to - from, CLIP_S * 1000, `${c.name}: clip ${JSON.stringify(clip)}`);
  // The cut: the segments that overlap [Start, End).
  const cut = vod.segments.filter((s) => s.overlaps(from, to));
  const want = total(cut);
  const clipURL = clip.Playback_urls.find((u) => u.endsWith(c.stream === 'hls' ? '.m3u8' : '.mpd'));
  const clipped = await index(clipURL, from);
  note(t, `clip ${c.name} ${clip.Start} – ${clip.End}: ${clipped.segments.length} segments ${clipped.segments[0].number}–${clipped.segments.at(-1).number}, ${total(clipped.segments).toFixed(2)} s; cut ${clip.Cut}`);
  assert.deepEqual(clipped.segments.map((s) => s.number), cut.map((s) => s.number), `${c.name}: the clip's segments are not those around Start and End`);
  assert.ok(want >= CLIP_S && want < CLIP_S + 2 * c.segment, `${c.name}: a ${CLIP_S} s clip cut at segment boundaries lasts ${want} s`);

  const plays = [];
  for (const p of c.players) {
    plays.push(assertVOD(t, `${c.name} recording in ${p}`, p, url, duration, c.segment));
    plays.push(assertVOD(t, `${c.name} clip in ${p}`, p, clipURL, want, c.segment));
  }
  await Promise.all(plays);
}

// assertVOD plays url in player: the video's duration must be want within
// one segment, it must play on from the start and after a seek to the
// middle, and reach its last segment after a seek close to its end.
async function assertVOD(t, name, player, url, want, segment) {
  const page = await openPlayer(t, player, url);
  try {
    const start = await state(page);
    assert.ok(Math.abs(start.duration - want) <= segment, `${name}: the video lasts ${start.duration} s, want ${want} s`);
    await playsFrom(page, `${name}: from the start`, start.time);
    await seek(page, start.duration / 2);
    await playsFrom(page, `${name}: after a seek to ${(start.duration / 2).toFixed(1)} s`, start.duration / 2);
    await seek(page, start.duration - 2);
    await until(page, `${name}: did not reach its last segment`, (last) => globalThis.playerError || document.getElementById('v').currentTime >= last, want - segment);
    // Shaka may stop a few frames short of a stream whose audio outlasts
    // its video, never firing 'ended': printed, not asserted.
    await page.waitForFunction(() => document.getElementById('v').ended, null, { timeout: 3_000, polling: 250 }).catch(() => {});
    const end = await state(page);
    t.diagnostic(`${name}: duration ${start.duration.toFixed(2)} s (want ${want.toFixed(2)} s); played to ${end.time.toFixed(2)} s, ended ${end.ended}, buffered ${JSON.stringify(end.buffered)}`);
    assert.equal(end.error, undefined, `${name}: player error`);
  } finally {
    await page.close();
  }
}

// runCase streams c's job until its DVR window spans SPAN_S, seeks back in
// it, then stops it and plays its recording and a clip.
const runCase = (t, c) =>
  withStreamingJob(spec(c), UNTIL_STREAMING_MS, async (job) => {
    // The players need not play while the window fills: they start once
    // the origin holds about SPAN_S of it, and wait for the rest.
    await sleep(SPAN_S * 1000);
    await Promise.all(c.players.map((p) => assertSeekBack(t, c, p, job.Playback_url)));
    await assertRecording(t, c, job);
  });

test('DVR: players seek back 60 s into a live stream; its recording and a clip play', { timeout: 480_000, concurrency: true }, async (t) => {
  await Promise.all(cases.map((c) => t.test(c.name, { timeout: 420_000 }, (tc) => runCase(tc, c))));
});
