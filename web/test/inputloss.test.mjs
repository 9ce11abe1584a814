// Input loss in the browser: for HLS, LL-HLS, DASH and LL-DASH a job is
// created over the API with a reconnect window, fed by the server's test
// pattern through the ingest gateway, and played: by Shaka Player, and for
// HLS also by hls.js, each on a bare page. The feed stops for 20 s, then
// comes back. The players must never error and keep playing through the
// gap, the slate must be on screen during it (the picture's average colour,
// read from a canvas), the job's record must say the input is lost, and
// the live picture must come back. The stall time is printed against the
// 1 s target, never asserted (a loaded machine would fail it for the wrong
// reason; `go test -bench InputLoss ./transcoder/` measures the switch).
// HLS and DASH jobs also have a DVR window (Output.Time_shift_buffer_depth)
// a little shorter than they stream: once it has filled, Shaka's seek range
// must span most of it, and a seek back into it must play.
// The HLS job, which streams about a minute, is then stopped and its
// recording and a 30 s clip of it are played in Shaka and hls.js
// (assertRecording).
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/inputloss.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { BASE, launchChromium } from '../chromium.mjs';
import { apiJSON as api, cleanUp, untilState } from '../testkit.mjs';

const require = createRequire(import.meta.url);
const HLSJS = require.resolve('hls.js/dist/hls.min.js');
const SHAKA = require.resolve('shaka-player/dist/shaka-player.compiled.js');

const GAP_MS = 20_000;
const UNTIL_STREAMING_MS = 120_000;
const UNTIL_PLAYING_MS = 60_000;
const STALL_TARGET_MS = 1_000;
// DVR_S is the DVR window of the normal-latency jobs: they stream about 36 s
// before it is checked. Without it, the origin lists six segments (12 s).
const DVR_S = 30;

const cases = [
  { name: 'HLS', stream: 'hls', segment: 2, lowLatency: false, players: ['shaka', 'hls.js'], dvr: DVR_S, recording: true },
  { name: 'LL-HLS', stream: 'hls', segment: 1, lowLatency: true, players: ['shaka', 'hls.js'] },
  { name: 'DASH', stream: 'dash', segment: 2, lowLatency: false, players: ['shaka'], dvr: DVR_S },
  { name: 'LL-DASH', stream: 'dash', segment: 1, lowLatency: true, players: ['shaka'] },
];

function spec(c) {
  return {
    Input_loss: { Reconnect_window: 60 },
    Output: {
      Stream_type: c.stream,
      Segment_format: 'fmp4',
      Segment_duration: c.segment,
      Low_latency_mode: c.lowLatency,
      Time_shift_buffer_depth: c.dvr,
      Video_outputs: [
        { Label: 'video400k', Codec: 'h264', Framerate: 25, Width: 480, Height: 270, Bitrate: '400k', Max_bitrate: '500k', Preset: 'veryfast', Threads: 1, Gop_size: 1 },
      ],
      Audio_outputs: [{ Label: 'audio64k', Codec: 'aac', Bitrate: '64k' }],
    },
  };
}

let browser;
const report = [];

before(async () => {
  if (!BASE) throw new Error('EZLIVE_URL is not set: start the system (ezlive dev) first');
  browser = await launchChromium('ezlive-inputloss', { viewport: { width: 800, height: 600 } });
});

after(async () => {
  await browser?.close();
  for (const line of report) console.log(line);
});

// open plays url with player on a bare page and records, in the page, the
// player's errors and every stall (a 'waiting' until the next 'playing').
async function open(t, player, url, lowLatency) {
  const page = await browser.context.newPage();
  page.on('pageerror', (err) => t.diagnostic(`${player} page error: ${err.message}`));
  await page.setContent('<video id="v" muted playsinline width="480" height="270"></video><canvas id="c" width="16" height="9"></canvas>');
  await page.addScriptTag({ path: player === 'shaka' ? SHAKA : HLSJS });
  await page.evaluate(
    async ({ player, url, lowLatency }) => {
      const video = document.getElementById('v');
      globalThis.errors = [];
      globalThis.stalls = [];
      let waitingSince = 0;
      video.addEventListener('waiting', () => (waitingSince ||= performance.now()));
      video.addEventListener('playing', () => {
        if (waitingSince) globalThis.stalls.push(performance.now() - waitingSince);
        waitingSince = 0;
      });
      globalThis.stalledNow = () => (waitingSince ? performance.now() - waitingSince : 0);
      video.addEventListener('error', () => globalThis.errors.push(`video: ${video.error?.message}`));
      globalThis.colour = () => {
        const ctx = document.getElementById('c').getContext('2d');
        ctx.drawImage(video, 0, 0, 16, 9);
        const d = ctx.getImageData(0, 0, 16, 9).data;
        const sum = [0, 0, 0];
        for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
        return sum.map((s) => s / (d.length / 4));
      };
      if (player === 'shaka') {
        globalThis.shaka.polyfill.installAll();
        const p = new globalThis.shaka.Player();
        await p.attach(video);
        // As the demo page does: a segment the wall clock says exists may
        // not be at the origin yet when a stream has just started.
        const retryParameters = { maxAttempts: 6, baseDelay: 500, backoffFactor: 2, timeout: 10000 };
        p.configure({ streaming: { lowLatencyMode: lowLatency, retryParameters }, manifest: { retryParameters } });
        p.addEventListener('error', (e) => globalThis.errors.push(`shaka ${e.detail.code}`));
        await p.load(url);
        globalThis.shakaPlayer = p;
      } else {
        const hls = new globalThis.Hls({ lowLatencyMode: lowLatency });
        hls.on(globalThis.Hls.Events.ERROR, (_, d) => d.fatal && globalThis.errors.push(`hls.js ${d.type}: ${d.details}`));
        hls.loadSource(url);
        hls.attachMedia(video);
      }
      video.play().catch(() => {});
    },
    { player, url, lowLatency },
  );
  await page.waitForFunction(
    () => {
      const v = document.getElementById('v');
      return globalThis.errors.length > 0 || (v.currentTime > 0 && !v.paused && v.readyState >= 3);
    },
    null,
    { timeout: UNTIL_PLAYING_MS, polling: 250 },
  );
  const errors = await page.evaluate(() => globalThis.errors);
  assert.deepEqual(errors, [], `${player} did not start: ${errors}`);
  return page;
}

// The built-in slate: white text on 0x1d3557.
const isSlate = ([r, , b]) => b > 70 && b > r + 30 && r < 70;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function sampleAll(pages) {
  return Promise.all(
    pages.map(async ({ page }) =>
      page.evaluate(() => ({
        colour: globalThis.colour(),
        time: document.getElementById('v').currentTime,
        stalled: globalThis.stalledNow(),
      })),
    ),
  );
}

async function runCase(t, c) {
  const job = await api('POST', '/jobs', spec(c));
  try {
    await untilState(job.Id, ['running'], UNTIL_STREAMING_MS);
    await api('POST', `/jobs/${job.Id}/feed`);
    await untilState(job.Id, ['streaming'], UNTIL_STREAMING_MS);
    await sleep(3 * c.segment * 1000); // a few segments at the origin
    const pages = [];
    for (const player of c.players) pages.push({ player, page: await open(t, player, job.Playback_url, c.lowLatency) });
    await sleep(4_000);
    for (const [i, s] of (await sampleAll(pages)).entries()) {
      assert.ok(!isSlate(s.colour), `${c.name} ${pages[i].player}: the slate before the gap (${s.colour})`);
    }
    const before = await sampleAll(pages);
    await Promise.all(pages.map(({ page }) => page.evaluate(() => (globalThis.stalls = []))));

    await api('DELETE', `/jobs/${job.Id}/feed`);
    const slateSeen = pages.map(() => false);
    let lostSince = '';
    for (let waited = 0; waited < GAP_MS; waited += 500) {
      await sleep(500);
      for (const [i, s] of (await sampleAll(pages)).entries()) slateSeen[i] ||= isSlate(s.colour);
      lostSince ||= (await api('GET', `/jobs/${job.Id}`)).Input_lost_since || '';
    }
    await api('POST', `/jobs/${job.Id}/feed`);
    const back = pages.map(() => false);
    for (let waited = 0; waited < 30_000 && back.includes(false); waited += 500) {
      await sleep(500);
      for (const [i, s] of (await sampleAll(pages)).entries()) back[i] ||= !isSlate(s.colour);
    }
    await sleep(3_000);
    const after = await sampleAll(pages);
    const restored = await api('GET', `/jobs/${job.Id}`);

    assert.ok(lostSince, `${c.name}: the job's record never said the input was lost`);
    assert.ok(!restored.Input_lost_since, `${c.name}: the record still says the input is lost after the feed came back`);
    assert.equal(restored.State, 'streaming');
    for (const [i, { player, page }] of pages.entries()) {
      const name = `${c.name} in ${player}`;
      const { errors, stalls } = await page.evaluate(() => ({ errors: globalThis.errors, stalls: globalThis.stalls }));
      assert.deepEqual(errors, [], `${name}: player errors`);
      assert.ok(slateSeen[i], `${name}: the slate was never on screen during the ${GAP_MS / 1000} s gap`);
      assert.ok(back[i], `${name}: the live picture did not come back`);
      const played = after[i].time - before[i].time;
      assert.ok(played > GAP_MS / 1000, `${name}: played ${played.toFixed(1)} s of media over the gap and the return`);
      const stalled = stalls.reduce((a, b) => a + b, 0) + after[i].stalled;
      const line = `input loss ${name}: stalled ${Math.round(stalled)} ms in ${stalls.length} stalls (target < ${STALL_TARGET_MS} ms: ${stalled < STALL_TARGET_MS ? 'met' : 'missed'})`;
      t.diagnostic(line);
      report.push(line);
      if (c.dvr && player === 'shaka') await assertDVR(t, c, page);
      await page.close();
    }
    if (c.recording) await assertRecording(t, c, job);
  } finally {
    await cleanUp(job.Id);
  }
}

// assertDVR waits until Shaka's seek range spans the job's DVR window but for
// a few segments (the player's own delay behind the live edge is one to three
// of them; without the window the range would be 12 s at most), then seeks
// back into it and requires playback to go on from there, well behind where
// it played before.
async function assertDVR(t, c, page) {
  const want = c.dvr - 5 * c.segment;
  const range = () =>
    page.evaluate(() => {
      const r = globalThis.shakaPlayer.seekRange();
      return { start: r.start, end: r.end, span: r.end - r.start, time: document.getElementById('v').currentTime };
    });
  try {
    await page.waitForFunction((want) => {
      const r = globalThis.shakaPlayer.seekRange();
      return r.end - r.start >= want;
    }, want, { timeout: 30_000, polling: 500 });
  } catch {
    const r = await range();
    throw new Error(`${c.name}: Shaka's seek range spans ${r.span.toFixed(1)} s, want ${want} s of a ${c.dvr} s DVR window (${JSON.stringify(r)})`);
  }
  const before = await range();
  // Well inside the window: Shaka moves a seek closer than its safe seek
  // offset (5 s) to the start of the range.
  const target = before.start + 3 * c.segment;
  await page.evaluate((target) => (document.getElementById('v').currentTime = target), target);
  try {
    await page.waitForFunction(
      (target) => {
        const v = document.getElementById('v');
        return !v.seeking && !v.paused && v.currentTime > target + 2;
      },
      target,
      { timeout: 30_000, polling: 250 },
    );
  } catch {
    const r = await range();
    throw new Error(`${c.name}: no playback after seeking back to ${target.toFixed(1)} (${JSON.stringify(r)})`);
  }
  const after = await range();
  const errors = await page.evaluate(() => globalThis.errors);
  const line = `DVR ${c.name} in shaka: seek range ${before.span.toFixed(1)} s of a ${c.dvr} s window; seeked back ${(before.time - target).toFixed(1)} s to ${target.toFixed(1)}, playing at ${after.time.toFixed(1)} (${(after.end - after.time).toFixed(1)} s behind the range's end)`;
  t.diagnostic(line);
  report.push(line);
  assert.deepEqual(errors, [], `${c.name}: player errors after the DVR seek`);
  assert.ok(after.time < before.time - 5, `${c.name}: after the seek back the player is near the live edge again: ${line}`);
}

// assertRecording stops the job and checks its one recording: its playlist
// holds every segment the run uploaded (the live playlist's last one, and
// none before its first is at the origin), and Shaka and hls.js play it as
// VOD of that duration (within one segment), from the start, after a seek,
// and to its last segment. Then the same for a clip of its last 30 s, whose duration
// must be that of the segments around the Start and End the API answered.
async function assertRecording(t, c, job) {
  const began = Date.now();
  await api('PUT', `/jobs/${job.Id}/stop`);
  await untilState(job.Id, ['stopped'], 60_000);
  const live = await mediaPlaylist(job.Playback_url);
  assert.ok(live.ended, `${c.name}: the live playlist has no ENDLIST after the stop`);
  const { Recordings: recs } = await api('GET', `/jobs/${job.Id}/recordings`);
  assert.equal(recs.length, 1, `${c.name}: recordings ${JSON.stringify(recs)}`);
  const rec = recs[0];
  const vod = await mediaPlaylist(rec.Playback_urls[0]);
  const [first, last] = [vod.segments[0], vod.segments.at(-1)];
  const streamed = (last.number - first.number + 1) * c.segment;
  // Its info's Bytes counts every rendition; printed beside the first's.
  const sizes = await Promise.all(vod.segments.map(async (s) => Number((await fetch(s.uri, { method: 'HEAD' })).headers.get('content-length'))));
  t.diagnostic(`recording ${rec.Run}: ${vod.segments.length} segments ${first.number}–${last.number}, ${vod.duration.toFixed(2)} s, the first rendition's ${sizes.reduce((a, b) => a + b, 0)} bytes; its info ${rec.Duration} s, ${rec.Bytes} bytes`);
  assert.ok(vod.ended && vod.vod, `${c.name}: the recording's playlist is not VOD with ENDLIST`);
  assert.equal(last.uri.split('/').at(-1), live.segments.at(-1).uri.split('/').at(-1), `${c.name}: the recording does not end with the live playlist's last segment`);
  assert.equal(vod.segments.length, last.number - first.number + 1, `${c.name}: the recording misses segments between ${first.number} and ${last.number}`);
  const before = new URL(first.uri.replace(/-\d+(\.\w+)$/, `-${first.number - 1}$1`), vod.url);
  assert.equal((await fetch(before, { method: 'HEAD' })).status, 404, `${c.name}: ${before} was uploaded but is not in the recording`);
  assert.ok(Math.abs(vod.duration - streamed) <= c.segment && Math.abs(rec.Duration - vod.duration) <= c.segment, `${c.name}: the recording lasts ${vod.duration} s (its info ${rec.Duration} s), the run uploaded ${streamed} s`);

  const clip = await api('POST', `/jobs/${job.Id}/clips`, { Start: 30, End: 0 });
  const [from, to] = [Date.parse(clip.Start), Date.parse(clip.End)];
  assert.equal(to - from, 30_000, `${c.name}: clip ${JSON.stringify(clip)}`);
  // The cut: the segments that overlap [Start, End).
  const cut = vod.segments.filter((s) => s.time + s.duration * 1000 > from && s.time < to);
  const want = cut.reduce((d, s) => d + s.duration, 0);
  const clipped = await mediaPlaylist(clip.Playback_urls[0]);
  t.diagnostic(`clip ${clip.Start} – ${clip.End}: ${clipped.segments.length} segments, ${clipped.duration.toFixed(2)} s; cut ${clip.Cut}`);
  assert.deepEqual(clipped.segments.map((s) => s.number), cut.map((s) => s.number), `${c.name}: the clip's segments are not those around Start and End`);
  assert.ok(want >= 30 && want < 30 + 2 * c.segment, `${c.name}: a 30 s clip cut at segment boundaries lasts ${want} s`);
  const plays = [];
  for (const p of ['shaka', 'hls.js']) {
    plays.push(assertVOD(t, `${c.name} recording in ${p}`, p, rec.Playback_urls[0], vod.duration, c.segment));
    plays.push(assertVOD(t, `${c.name} clip in ${p}`, p, clip.Playback_urls[0], want, c.segment));
  }
  await Promise.all(plays);
  t.diagnostic(`${c.name}: the recording and clip checks took ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

// mediaPlaylist reads the first media playlist of an HLS master playlist:
// its segments (absolute URI, number, program date-time in ms, duration),
// their total duration, and whether it is VOD and ended.
async function mediaPlaylist(masterURL) {
  const get = async (url) => {
    const res = await fetch(url);
    assert.equal(res.status, 200, `GET ${url}`);
    return res.text();
  };
  const master = await get(masterURL);
  const url = new URL(master.split('\n').find((l) => l && !l.startsWith('#')), masterURL).href;
  const segments = [];
  let time = 0;
  let duration = 0;
  const text = await get(url);
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) time = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) duration = parseFloat(line.slice(8));
    else if (line && !line.startsWith('#')) {
      segments.push({ uri: new URL(line, url).href, number: Number(/-(\d+)\.\w+$/.exec(line)[1]), time, duration });
      time += duration * 1000;
    }
  }
  return {
    url,
    segments,
    duration: segments.reduce((d, s) => d + s.duration, 0),
    ended: text.includes('#EXT-X-ENDLIST'),
    vod: text.includes('#EXT-X-PLAYLIST-TYPE:VOD'),
  };
}

// assertVOD plays url in player: the video's duration must be want within
// one segment, it must play on from the start and after a seek to the
// middle, and reach its last segment after a seek close to its end.
async function assertVOD(t, name, player, url, want, segment) {
  const page = await open(t, player, url, false);
  try {
    const video = () =>
      page.evaluate(() => {
        const v = document.getElementById('v');
        const buffered = [];
        for (let i = 0; i < v.buffered.length; i++) buffered.push([v.buffered.start(i), v.buffered.end(i)]);
        return { time: v.currentTime, duration: v.duration, ended: v.ended, paused: v.paused, buffered, errors: globalThis.errors };
      });
    const start = await video();
    assert.ok(Math.abs(start.duration - want) <= segment, `${name}: the video lasts ${start.duration} s, want ${want} s`);
    const until = async (what, cond, arg) => {
      try {
        await page.waitForFunction(cond, arg, { timeout: 20_000, polling: 250 });
      } catch {
        throw new Error(`${name}: ${what}: ${JSON.stringify(await video())}`);
      }
    };
    const playsFrom = (from, what) =>
      until(`no playback ${what}`, (from) => {
        const v = document.getElementById('v');
        return globalThis.errors.length > 0 || (!v.seeking && !v.paused && v.currentTime > from + 1);
      }, from);
    const seek = (to) => page.evaluate((to) => (document.getElementById('v').currentTime = to), to);
    await playsFrom(start.time, 'from the start');
    await seek(start.duration / 2);
    await playsFrom(start.duration / 2, `after a seek to ${(start.duration / 2).toFixed(1)} s`);
    await seek(start.duration - 2);
    await until('did not reach its last segment', (last) => globalThis.errors.length > 0 || document.getElementById('v').currentTime >= last, want - segment);
    // Shaka may stop a few frames short of a stream whose audio outlasts
    // its video, never firing 'ended': printed, not asserted.
    await page.waitForFunction(() => document.getElementById('v').ended, null, { timeout: 3_000, polling: 250 }).catch(() => {});
    const end = await video();
    t.diagnostic(`${name}: duration ${start.duration.toFixed(2)} s (want ${want.toFixed(2)} s); played to ${end.time.toFixed(2)} s, ended ${end.ended}, buffered ${JSON.stringify(end.buffered)}`);
    assert.deepEqual(end.errors, [], `${name}: player errors`);
  } finally {
    await page.close();
  }
}

// Two jobs at a time, a normal and a low-latency pair: four jobs and six
// players at once starve two cores, and low-latency players then fail for
// that reason alone.
test('input loss: players keep playing through a 20 s gap, on the slate, and the live picture returns', { timeout: 600_000, concurrency: true }, async (t) => {
  const caseTimeout = 300_000;
  for (const pair of [cases.filter((c) => !c.lowLatency), cases.filter((c) => c.lowLatency)]) {
    await Promise.all(pair.map((c) => t.test(c.name, { timeout: caseTimeout }, (tc) => runCase(tc, c))));
  }
});
