// Browser test of DRM against a running system (`ezlive dev` with the DRM
// wiring): for each packaging an encrypted job is created over the API and
// fed the test pattern; Debian's Chromium (playwright-core) then plays it
// with Shaka Player at the playback URL of a viewer token (POST
// /jobs/:id/playback_tokens) through our license endpoint (ClearKey for
// DASH, the HLS key URI for HLS), whose URL in the manifest carries that
// token. It fails to play the same stream when license and key requests are
// refused, which proves the media is encrypted, and at the job's own
// Playback_url, which carries no token: a DASH job is signed (the origin
// serves it only under a token), an HLS job public (its manifests are
// served, but no key without a token).
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/drm.test.mjs
//
// EZLIVE_URL            base URL of the API (required)
// EZLIVE_CHROMIUM       browser binary (default /usr/bin/chromium)
// EZLIVE_DRM_PACKAGINGS packagings to test (default dash-fmp4,hls-fmp4; also
//                       hls-mpegts, dash-cmaf, hls-cmaf)
//
// The tests skip themselves when the API has no DRM routes (apiserver
// Config.DRM unset), so `node --test web/test/` still passes on a system
// without the DRM wiring.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE, launchChromium } from '../chromium.mjs';
import { api, cleanUp } from '../testkit.mjs';

const PACKAGINGS = (process.env.EZLIVE_DRM_PACKAGINGS || 'dash-fmp4,hls-fmp4').split(',');
const HERE = path.dirname(fileURLToPath(import.meta.url));

const UNTIL_STREAMING_MS = 120_000;
const UNTIL_MANIFEST_MS = 60_000;
const PLAY_MS = 30_000;
const STILL_MS = 6_000;

let browser;
let context;

before(async () => {
  if (!BASE) throw new Error('EZLIVE_URL is not set: start ezlive dev and run EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/drm.test.mjs');
  browser = await launchChromium('ezlive-drm-chromium', { extraArgs: ['--autoplay-policy=no-user-gesture-required'] });
  context = browser.context;
});

after(async () => {
  await browser?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// drmSpec is the sample job cut to one small rendition, 2 s segments, a
// Drm block (scheme chosen by the packaging) and the playback policy.
async function drmSpec(stream, format, policy) {
  const spec = JSON.parse(await readFile(path.join(HERE, '../../jobspec/testdata/sample_live_job.json'), 'utf8'));
  Object.assign(spec.Output, { Stream_type: stream, Segment_format: format, Segment_duration: 2 });
  spec.Output.Video_outputs = spec.Output.Video_outputs.slice(0, 1);
  spec.Output.Drm = { Protection_system: 'ClearKey' };
  spec.Playback_policy = policy;
  return spec;
}

// drmWired reports whether the API serves the license endpoint: it answers
// an unknown job without a viewer token with its own problem (code
// forbidden), not the router's.
async function drmWired() {
  const res = await fetch(`${BASE}/drm/clearkey/${randomUUID()}`, { method: 'POST', body: '{"kids":[]}', signal: AbortSignal.timeout(10_000) });
  const body = await res.json().catch(() => ({}));
  return res.status === 403 && body.code === 'forbidden' && /viewer token/.test(body.detail ?? '');
}

async function waitFor(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms / 1000} s`);
    await sleep(1000);
  }
}

// play loads url in a fresh page with Shaka Player. With refuseKeys, every
// license and key request fails. It returns the player's errors and the
// video's currentTime each second over PLAY_MS, stopping early once
// playback clearly advanced, or STILL_MS after the player's first error
// (a player that failed has had time to move, and did not).
async function play(t, url, refuseKeys) {
  const page = await context.newPage();
  try {
    page.on('pageerror', (err) => t.diagnostic(`page error: ${err.message}`));
    await page.goto(`${BASE}/healthz`);
    await page.setContent('<video id="v" muted autoplay width="320"></video>');
    await page.addScriptTag({ url: `${BASE}/web/shaka/shaka-player.ui.js` });
    return await page.evaluate(async ({ url, refuseKeys, playMs, stillMs }) => {
      shaka.polyfill.installAll();
      const video = document.getElementById('v');
      const player = new shaka.Player();
      await player.attach(video);
      const errors = [];
      player.addEventListener('error', (e) => errors.push(e.detail.code));
      const types = shaka.net.NetworkingEngine.RequestType;
      const asked = [];
      player.getNetworkingEngine().registerRequestFilter((type, req) => {
        if (type === types.LICENSE || type === types.KEY) {
          asked.push(req.uris[0]);
          if (refuseKeys) throw new shaka.util.Error(2, 1, 1001, req.uris[0]);
        }
      });
      try {
        await player.load(url);
      } catch (e) {
        errors.push(e.code);
      }
      const times = [];
      const end = Date.now() + playMs;
      let failedAt;
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 1000));
        times.push(video.currentTime);
        if (times.length >= 6 && times[times.length - 1] - times[times.length - 6] > 3) break;
        if (errors.length > 0 && (failedAt ??= Date.now()) + stillMs <= Date.now()) break;
      }
      await player.destroy();
      return { errors, times, asked };
    }, { url, refuseKeys, playMs: PLAY_MS, stillMs: STILL_MS });
  } finally {
    await page.close();
  }
}

// The packagings run at once: most of each is waiting for its job.
test('encrypted jobs play with our license and not without', { timeout: 360_000, concurrency: true }, async (t) => {
  await Promise.all(PACKAGINGS.map((packaging) => t.test(packaging, { timeout: 360_000 }, (tc) => encryptedPlays(tc, packaging))));
});

// encryptedPlays creates an encrypted job of packaging and plays it with
// its license, without, and without a viewer token.
async function encryptedPlays(t, packaging) {
  const [stream, format] = packaging.split('-');
  assert.ok(await drmWired(), 'the API serves no DRM routes (apiserver Config.DRM unset)');
  const policy = stream === 'dash' ? 'signed' : 'public';
  const created = await api('POST', '/jobs', await drmSpec(stream, format, policy));
  assert.equal(created.status, 201, `POST /jobs: ${JSON.stringify(created.json)}`);
  const id = created.json.Id;
  const publicUrl = created.json.Playback_url;
  try {
    const viewer = await api('POST', `/jobs/${id}/playback_tokens`, { Ttl: 600 });
    assert.equal(viewer.status, 201, `POST /jobs/${id}/playback_tokens: ${viewer.text}`);
    const url = viewer.json.Playback_url;
    assert.ok(url.includes(`/play/${viewer.json.Token}/${id}/`), `the viewer's URL ${url} carries the token`);
    await waitFor('running', UNTIL_STREAMING_MS, async () => ['running', 'streaming'].includes((await api('GET', `/jobs/${id}`)).json.State));
    assert.equal((await api('POST', `/jobs/${id}/feed`)).status < 300, true, 'start feed');
    await waitFor('streaming', UNTIL_STREAMING_MS, async () => (await api('GET', `/jobs/${id}`)).json.State === 'streaming');
    // a few segments listed, so the player has something to buffer
    await waitFor('manifest', UNTIL_MANIFEST_MS, async () => {
      const res = await fetch(url).catch(() => null);
      if (!res?.ok) return false;
      const text = await res.text();
      return stream === 'dash' ? (text.match(/<S /g) || []).length > 0 && /r="[2-9]|<S [^>]*>\s*<S /.test(text) : true;
    });
    await sleep(6000);
    const job = (await api('GET', `/jobs/${id}`)).json;
    assert.ok(!JSON.stringify(job).match(/"(k|key|Key|kid)"\s*:/), 'GET /jobs/:id carries no key material');

    const ok = await play(t, url, false);
    t.diagnostic(`with license: errors ${JSON.stringify(ok.errors)}; currentTime ${ok.times.map((x) => x.toFixed(1)).join(' ')}; asked ${ok.asked.join(' ')}`);
    assert.ok(ok.asked.some((u) => u.startsWith(`${BASE}/drm/`)), 'the player asked our license/key endpoint');
    const advanced = ok.times.length >= 6 && ok.times[ok.times.length - 1] - ok.times[ok.times.length - 6] > 3;
    assert.ok(advanced, `playback with the license did not advance: ${ok.times.join(' ')}; errors ${ok.errors}`);

    const refused = await play(t, url, true);
    t.diagnostic(`without license: errors ${JSON.stringify(refused.errors)}; currentTime ${refused.times.map((x) => x.toFixed(1)).join(' ')}`);
    assert.ok(refused.errors.length > 0, 'refusing the license produced no player error');
    // a live player starts near the live edge: what matters is that
    // currentTime never moves from where it was put
    const moved = Math.max(...refused.times) - Math.min(...refused.times);
    assert.ok(moved < 0.5, `played without a license: ${refused.times.join(' ')}`);

    // The job's own URL carries no token: a signed job's manifest is not
    // served there, and a public job's gets no key.
    const manifest = await fetch(publicUrl);
    assert.equal(manifest.status, policy === 'signed' ? 404 : 200, `GET ${publicUrl}`);
    const anyone = await play(t, publicUrl, false);
    t.diagnostic(`without a viewer token (${policy}): errors ${JSON.stringify(anyone.errors)}; currentTime ${anyone.times.map((x) => x.toFixed(1)).join(' ')}; asked ${anyone.asked.join(' ')}`);
    assert.ok(anyone.errors.length > 0, 'playing without a viewer token produced no player error');
    const movedAnyway = Math.max(...anyone.times) - Math.min(...anyone.times);
    assert.ok(movedAnyway < 0.5, `played without a viewer token: ${anyone.times.join(' ')}`);
  } finally {
    await cleanUp(id);
  }
}
