// Browser test of the demo page against a running system (`ezlive dev`):
// Debian's Chromium driven by playwright-core creates an HLS and a DASH job
// through the page, starts the live feed, and checks that the player's
// currentTime keeps advancing; then stops and deletes the job through the page.
// A signed DRM job typed into the editor plays too: the page fetches a
// viewer token for it (POST /jobs/:id/playback_tokens).
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/
//
// EZLIVE_URL        base URL of the API serving the page (required)
// EZLIVE_CHROMIUM   browser binary (default /usr/bin/chromium)
// EZLIVE_SCREENSHOT_DIR  where screenshots go (default: a new temp dir)
// EZLIVE_PACKAGINGS  template keys to test (default hls-mpegts,dash-fmp4)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE, launchChromium } from '../chromium.mjs';
import { cleanUp } from '../testkit.mjs';

// How long the system may take for each step on a busy 2-core machine.
const UNTIL_RUNNING_MS = 120_000;
const UNTIL_STREAMING_MS = 90_000;
const UNTIL_PLAYING_MS = 90_000;
const UNTIL_STOPPED_MS = 60_000;

let browser; // a persistent context with its own fresh profile
let context;
let shotDir;

before(async () => {
  if (!BASE) {
    throw new Error('EZLIVE_URL is not set: start the system (ezlive dev) and run EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/');
  }
  try {
    const res = await fetch(`${BASE}/jobs`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET /jobs answered ${res.status}`);
  } catch (err) {
    throw new Error(`ezlive API at EZLIVE_URL=${BASE} is unreachable: ${err.message}`);
  }
  shotDir = process.env.EZLIVE_SCREENSHOT_DIR || (await mkdtemp(path.join(tmpdir(), 'ezlive-shots-')));
  await mkdir(shotDir, { recursive: true });
  browser = await launchChromium('ezlive-chromium', { viewport: { width: 1400, height: 1000 } });
  context = browser.context;
});

after(async () => {
  await browser?.close();
  if (shotDir) console.log(`# screenshots in ${shotDir}`);
});

// openPage opens the demo page and reports the browser's console errors
// through the test's diagnostics.
async function openPage(t) {
  const page = await context.newPage();
  page.on('pageerror', (err) => t.diagnostic(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // failed requests are reported with their URL below
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) t.diagnostic(`console: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) t.diagnostic(`${res.status()} ${res.request().method()} ${res.url()}`);
  });
  page.on('dialog', (d) => d.accept()); // "Delete job …?"
  await page.goto(`${BASE}/`);
  await page.waitForFunction(() => document.querySelector('#spec').value.includes('Output'));
  return page;
}

const row = (page, id) => page.locator(`#jobs-body tr[data-job-id="${id}"]`);

async function waitForState(page, id, states, timeout) {
  const list = [].concat(states);
  try {
    await page.waitForFunction(
      ({ id, list }) => {
        const tr = document.querySelector(`#jobs-body tr[data-job-id="${CSS.escape(id)}"]`);
        return tr && list.includes(tr.dataset.state);
      },
      { id, list },
      { timeout, polling: 250 },
    );
  } catch {
    const now = await row(page, id).getAttribute('data-state').catch(() => 'gone');
    throw new Error(`job ${id} did not reach ${list.join('/')} within ${timeout / 1000} s; it is ${now}`);
  }
}

// createThroughPage picks a template in the editor, clicks Create and
// returns the new job's id.
async function createThroughPage(page, packaging) {
  await page.selectOption('#tpl-packaging', packaging);
  await page.selectOption('#tpl-ladder', 'light');
  await page.getByRole('button', { name: 'Apply template' }).click();
  return create(page);
}

// create clicks Create on the spec in the editor and returns the new job's id.
async function create(page) {
  await page.getByRole('button', { name: 'Create' }).click();
  const status = page.locator('#status');
  await status.filter({ hasText: /Created job|rejected|failed/ }).waitFor();
  const text = await status.textContent();
  const m = /Created job (\S+)/.exec(text);
  assert.ok(m, `Create did not create a job: ${text}; ${await page.locator('#spec-errors').textContent()}`);
  return m[1];
}

// assertPlays samples the video's currentTime every second for 10 s: each
// sample must be later than the one before, and 8 s must pass in all.
// assertPlays checks that the page's video plays: smooth, every second of
// 10 advancing and 8 s in all; or, with smooth false, at least 5 s in 10
// (a DRM job, below).
async function assertPlays(page, { smooth = true } = {}) {
  const video = page.locator('#video');
  // The video's own account of seeks and stalls, for a failure message.
  await video.evaluate((v) => {
    window.videoEvents = [];
    for (const type of ['seeking', 'waiting', 'playing', 'stalled', 'emptied']) {
      v.addEventListener(type, () => {
        const ranges = [];
        for (let i = 0; i < v.buffered.length; i++) ranges.push(`${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`);
        window.videoEvents.push(`${type}@${v.currentTime.toFixed(2)} [${ranges.join(' ')}]`);
      });
    }
  });
  const events = () => page.evaluate(() => window.videoEvents.join(', '));
  try {
    await page.waitForFunction(
      () => {
        const v = document.querySelector('#video');
        return v.currentTime > 0 && !v.paused && v.readyState >= 3;
      },
      null,
      { timeout: UNTIL_PLAYING_MS, polling: 250 },
    );
  } catch {
    throw new Error(`the player did not start: ${await page.locator('#player-note').textContent()}`);
  }
  const samples = [await video.evaluate((v) => v.currentTime)];
  for (let i = 0; i < 10; i++) {
    await page.waitForTimeout(1000);
    samples.push(await video.evaluate((v) => v.currentTime));
  }
  const seen = `currentTime ${samples.map((s) => s.toFixed(2)).join(', ')}; video events: ${await events()}`;
  for (let i = 1; smooth && i < samples.length; i++) {
    assert.ok(samples[i] > samples[i - 1], `video stalled between seconds ${i - 1} and ${i}: ${seen}`);
  }
  const advance = samples.at(-1) - samples[0];
  assert.ok(advance >= (smooth ? 8 : 5), `video advanced ${advance.toFixed(2)} s in 10 s: ${seen}`);
  return seen;
}

// assertThumbnail waits for the job's row to show a decoded picture, then
// for the page to load a newer one.
async function assertThumbnail(t, page, id) {
  const img = row(page, id).locator('.thumb img');
  const shown = () =>
    img.evaluate((el) => ({ hidden: el.hidden, src: el.getAttribute('src'), w: el.naturalWidth, h: el.naturalHeight, at: Number(el.dataset.loadedAt || 0) }));
  const decoded = async (after) => {
    try {
      await page.waitForFunction(
        ({ id, after }) => {
          const el = document.querySelector(`#jobs-body tr[data-job-id="${CSS.escape(id)}"] .thumb img`);
          return el && !el.hidden && el.complete && el.naturalWidth > 0 && Number(el.dataset.loadedAt || 0) > after;
        },
        { id, after },
        { timeout: 30_000, polling: 250 },
      );
    } catch {
      throw new Error(`job ${id} shows no new thumbnail within 30 s: ${JSON.stringify(await shown())}`);
    }
    return shown();
  };
  const first = await decoded(0);
  const next = await decoded(first.at);
  t.diagnostic(`thumbnail ${first.w}×${first.h}, reloaded after ${next.at - first.at} ms: ${first.src} → ${next.src}`);
  assert.ok(first.w > 0 && first.h > 0, `thumbnail not decoded: ${JSON.stringify(first)}`);
  assert.notEqual(next.src, first.src, 'the thumbnail was not reloaded');
}

// stopAndDeleteThroughPage stops the job and deletes it through the page;
// with recording, it plays the job's recording and a clip in between.
async function stopAndDeleteThroughPage(t, page, id, { recording = false } = {}) {
  await row(page, id).locator('input[type=radio]').check();
  await page.getByRole('button', { name: 'Stop live feed' }).click();
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await waitForState(page, id, 'stopped', UNTIL_STOPPED_MS);
  if (recording) await assertRecordingPlays(t, page);
  await page.getByRole('button', { name: 'Delete' }).click();
  await row(page, id).waitFor({ state: 'detached', timeout: UNTIL_STOPPED_MS });
}

// assertRecordingPlays lists the stopped job's recordings, clicks the one
// recording's Play HLS and then its "Clip last 30 s", and checks that the
// page's player plays each as VOD (a finite duration, at most the
// recording's) from its start.
async function assertRecordingPlays(t, page) {
  await page.getByRole('button', { name: 'Recordings', exact: true }).click();
  const item = page.locator('#recordings-list li');
  await item.first().waitFor();
  assert.equal(await item.count(), 1, `one run, one recording: ${await page.locator('#recordings-list').textContent()}`);
  t.diagnostic(`recording: ${await item.textContent()}`);
  const recorded = parseFloat(/: ([\d.]+) s/.exec(await item.textContent())[1]);
  for (const [button, what] of [
    ['Play HLS', 'recording'],
    ['Clip last 30 s', 'clip'],
  ]) {
    await item.getByRole('button', { name: button }).click();
    const note = page.locator('#player-note');
    try {
      await note.filter({ hasText: new RegExp(`^Playing ${what} `) }).waitFor({ timeout: UNTIL_PLAYING_MS });
      await page.waitForFunction(() => {
        const v = document.querySelector('#video');
        return !v.paused && v.currentTime > 2;
      }, null, { timeout: 30_000, polling: 250 });
    } catch {
      throw new Error(`the page did not play the ${what}: ${await note.textContent()}; status: ${await page.locator('#status').textContent()}`);
    }
    const duration = await page.locator('#video').evaluate((v) => v.duration);
    t.diagnostic(`${what} plays in the page: ${duration.toFixed(2)} s of a ${recorded} s recording; ${await page.locator('#status').textContent()}`);
    assert.ok(duration > 2 && duration <= recorded + 0.5, `the ${what} lasts ${duration} s; the recording ${recorded} s`);
  }
}

// Packagings to test, as the page's template keys; EZLIVE_PACKAGINGS
// (comma-separated, e.g. hls-fmp4,dash-cmaf,hls-cmaf) tests others.
const packagings = (process.env.EZLIVE_PACKAGINGS || 'hls-mpegts,dash-fmp4').split(',').filter(Boolean);

for (const packaging of packagings) {
  const name = packaging.startsWith('hls') ? `HLS (${packaging})` : `DASH (${packaging})`;
  const shot = `ezlive-${packaging}`;
  // The first HLS job's recording and a clip of it play in the page too.
  const recording = packaging === packagings.find((p) => p.startsWith('hls'));
  const also = recording ? ', play its recording and a clip' : '';
  test(`${name} job: create, live feed, play 10 s, stop${also}, delete`, { timeout: 420_000 }, (t) =>
    createPlayDelete(t, shot, (page) => createThroughPage(page, packaging), { thumbnail: true, recording }),
  );
}

// createPlayDelete creates a job in a new page with create, starts its live
// feed, checks that it plays, and stops and deletes it through the page;
// the page is left with a screenshot named after shot. With thumbnail, the
// job's row must show its latest frame, refreshed; without, no picture. It
// returns the page's requests. With recording, the stopped job's recording
// and a clip of it must play in the page.
async function createPlayDelete(t, shot, create, { thumbnail = false, smooth = true, recording = false } = {}) {
  const page = await openPage(t);
  const requests = [];
  page.on('request', (req) => requests.push(req.url()));
  let id;
  try {
    id = await create(page);
    t.diagnostic(`job ${id}`);
    await expectSelected(page, id);
    await waitForState(page, id, ['running', 'streaming'], UNTIL_RUNNING_MS);
    await page.getByRole('button', { name: 'Start live feed' }).click();
    await waitForState(page, id, 'streaming', UNTIL_STREAMING_MS);
    const seen = await assertPlays(page, { smooth });
    if (!smooth) t.diagnostic(`playback: ${seen}`);
    if (thumbnail) await assertThumbnail(t, page, id);
    else assert.equal(await row(page, id).locator('.thumb img').isHidden(), true, 'a job without thumbnail shows a picture');
    await page.screenshot({ path: path.join(shotDir, `${shot}.png`), fullPage: true });
    await stopAndDeleteThroughPage(t, page, id, { recording });
    id = null;
    return requests;
  } catch (err) {
    await page.screenshot({ path: path.join(shotDir, `${shot}-failed.png`), fullPage: true }).catch(() => {});
    t.diagnostic(`status: ${await page.locator('#status').textContent().catch(() => '?')}`);
    throw err;
  } finally {
    if (id) await cleanUp(id);
    await page.close();
  }
}

test('a signed DRM job plays in the page with a viewer token', { timeout: 420_000 }, async (t) => {
  const sample = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../jobspec/testdata/sample_live_job.json');
  const spec = JSON.parse(await readFile(sample, 'utf8'));
  Object.assign(spec.Output, { Stream_type: 'dash', Segment_format: 'fmp4', Segment_duration: 2, Drm: { Protection_system: 'ClearKey' } });
  spec.Output.Video_outputs = spec.Output.Video_outputs.slice(0, 1);
  spec.Playback_policy = 'signed';
  // Plays, not smoothly: the page's player sits at the live edge of a DRM
  // job, whose segments reach the origin only whole and encrypted, and
  // waits at segment boundaries (a known issue; see the closing note). The
  // stalls are printed.
  const requests = await createPlayDelete(
    t,
    'ezlive-signed-drm',
    async (page) => {
      await page.fill('#spec', JSON.stringify(spec, null, 4));
      return create(page);
    },
    { smooth: false },
  );
  assert.ok(requests.some((u) => u.endsWith('/playback_tokens')), 'the page asked for no viewer token');
  assert.ok(requests.some((u) => u.includes('/play/')), 'the page played no viewer token URL');
});

async function expectSelected(page, id) {
  await page.locator('#selected-id').filter({ hasText: id }).waitFor();
  assert.equal(await row(page, id).locator('input[type=radio]').isChecked(), true, 'the new job is selected');
}

test('a rejected spec shows each bad field next to its message', { timeout: 60_000 }, async (t) => {
  const bad = {
    Output: {
      Stream_type: 'flv',
      Segment_format: 'mpegts',
      Segment_duration: 4,
      Video_outputs: [{ Label: 'v', Codec: 'h264', Framerate: 30, Width: 640, Height: 360, Bitrate: 'lots' }],
      Audio_outputs: [{ Label: 'a', Codec: 'aac', Bitrate: '128k' }],
    },
  };
  const body = JSON.stringify(bad, null, 4);
  // What the API says about it is what the page must show.
  const res = await fetch(`${BASE}/jobs`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  assert.equal(res.status, 400, 'the API rejects the spec');
  const problem = await res.json();
  assert.ok(Array.isArray(problem.errors) && problem.errors.length >= 2, `problem lists the bad fields: ${JSON.stringify(problem)}`);
  assert.ok(problem.errors.some((e) => e.field.includes('Stream_type')), 'Stream_type is named');
  assert.ok(problem.errors.some((e) => e.field.includes('Bitrate')), 'Bitrate is named');

  const page = await openPage(t);
  try {
    await page.fill('#spec', body);
    await page.getByRole('button', { name: 'Create' }).click();
    const box = page.locator('#spec-errors');
    await box.waitFor({ state: 'visible' });
    const shown = await box.locator('li').evaluateAll((lis) =>
      lis.map((li) => ({ field: li.querySelector('.field').textContent, message: li.querySelector('.message').textContent })),
    );
    assert.deepEqual(shown, problem.errors.map(({ field, message }) => ({ field, message })));
    assert.equal(await page.locator('#spec').getAttribute('aria-invalid'), 'true');
    await page.screenshot({ path: path.join(shotDir, 'ezlive-rejected-spec.png') });
  } finally {
    await page.close();
  }
});
