// Glass-to-glass latency (bench/latency): each case plays a stream whose
// frames carry the test feed's time code (testfeed/timecode.go: the wall
// clock in ms at which the publisher let the frame through) in Chromium,
// reads the code back from every frame the video element presents (canvas +
// requestVideoFrameCallback) and subtracts it from the frame's display time.
// Publisher and browser run on one machine, so on one clock. Next to it: the
// player's own latency estimate, the buffer it holds ahead of the playhead,
// and its stalls. For bench/latency's "where the time goes" it also keeps
// each frame's capture and display time and, for every media request the
// player makes (fetch or XMLHttpRequest), when each of its bytes arrived.
// Not under test/: bench/latency runs it.
//
//   node glass.mjs cases.json out.json
//
// cases.json: {"layout": {...testfeed.TimecodeLayout}, "settleSeconds": 5,
// "seconds": 20, "cases": [{"name", "player", "config", "url", "lowLatency"}]}
// (config: more of the player's configuration, see players.mjs).
// out.json gets one figure per case, in order; a case that did not play has
// its error instead. Times in frames and requests are Unix ms:
// frames [[captured, shown]], requests [{url, from (the Range's first
// byte), start, steps: [[bytes received, at]]}].

import { readFile, writeFile } from 'node:fs/promises';
import { launchChromium } from './chromium.mjs';
import { open } from './players.mjs';

const [casesFile, outFile] = process.argv.slice(2);
const { layout, settleSeconds, seconds, cases } = JSON.parse(await readFile(casesFile, 'utf8'));
const browser = await launchChromium('ezlive-glass', { viewport: { width: 800, height: 600 } });
const results = [];
try {
  for (const c of cases) {
    const started = Date.now();
    try {
      results.push({ ...c, ...(await measure(c)) });
    } catch (err) {
      results.push({ ...c, error: String(err.message ?? err) });
    }
    const r = results.at(-1);
    const got = r.error ?? `median ${r.median} s, ${r.frames} frames read, ${r.failures} not`;
    console.error(`glass: ${c.name} in ${c.label ?? c.player}: ${got} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
} finally {
  await browser.close();
  await writeFile(outFile, JSON.stringify(results, null, 2));
}

async function measure(c) {
  const page = await open(browser.context, c.player, c.url, { lowLatency: c.lowLatency, config: c.config ?? {}, prepare: traceRequests });
  try {
    await page.evaluate(readTimecodes, layout);
    await page.waitForTimeout(settleSeconds * 1000);
    await page.evaluate(() => globalThis.glass.reset());
    const estimates = [];
    const ahead = [];
    for (let i = 0; i < seconds; i++) {
      await page.waitForTimeout(1000);
      const s = await page.evaluate(() => {
        const v = document.getElementById('v');
        const b = v.buffered;
        return { estimate: globalThis.estimate(), ahead: b.length ? b.end(b.length - 1) - v.currentTime : 0 };
      });
      if (Number.isFinite(s.estimate)) estimates.push(s.estimate);
      ahead.push(s.ahead);
    }
    const g = await page.evaluate(() => globalThis.glass);
    const requests = await page.evaluate(() => globalThis.requestTrace);
    const q = quantiles(g.samples);
    return {
      median: q(0.5), p10: q(0.1), p90: q(0.9), frames: g.samples.length, failures: g.failures, stalls: g.stalls,
      estimate: quantiles(estimates)(0.5), ahead: quantiles(ahead)(0.5),
      width: g.width, height: g.height, shown: g.shown, requests,
    };
  } finally {
    await page.close();
  }
}

// quantiles returns a function giving the q-quantile (nearest rank) of xs.
function quantiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return (q) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null);
}

// readTimecodes runs in the page: from now on it decodes every presented
// frame's time code into globalThis.glass (latencies in seconds, frames whose
// code did not read, stalls).
function readTimecodes(layout) {
  const video = document.getElementById('v');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const span = 2 ** layout.bits;
  const glass = {
    samples: [], shown: [], failures: 0, stalls: 0, width: 0, height: 0,
    reset() { this.samples = []; this.shown = []; this.failures = 0; this.stalls = 0; },
  };
  globalThis.glass = glass;
  video.addEventListener('waiting', () => glass.stalls++);
  const decode = (w, h) => {
    const s = w / layout.width;
    const rows = Math.ceil(layout.blocks / layout.row);
    const img = ctx.getImageData(0, 0, Math.min(w, Math.ceil((layout.x + layout.row * layout.block) * s) + 1), Math.min(h, Math.ceil((layout.y + rows * layout.block) * s) + 1));
    const mean = (i) => {
      const cx = (layout.x + ((i % layout.row) + 0.5) * layout.block) * s;
      const cy = (layout.y + (Math.floor(i / layout.row) + 0.5) * layout.block) * s;
      const r = Math.floor((layout.block * s) / 4);
      let sum = 0;
      let n = 0;
      for (let y = Math.floor(cy) - r; y < Math.floor(cy) + r; y++) {
        for (let x = Math.floor(cx) - r; x < Math.floor(cx) + r; x++) {
          if (x < 0 || y < 0 || x >= img.width || y >= img.height) continue;
          const o = (y * img.width + x) * 4;
          sum += 0.299 * img.data[o] + 0.587 * img.data[o + 1] + 0.114 * img.data[o + 2];
          n++;
        }
      }
      return n ? sum / n : 0;
    };
    const white = mean(0);
    const black = mean(1);
    if (white - black < 64) return null;
    const mid = (white + black) / 2;
    let v = 0;
    let c = 0;
    for (let b = 0; b < layout.bits; b++) v = v * 2 + (mean(2 + b) > mid ? 1 : 0);
    for (let b = 0; b < layout.checkBits; b++) c = c * 2 + (mean(2 + layout.bits + b) > mid ? 1 : 0);
    return c === v % layout.check ? v : null;
  };
  const onFrame = (_, meta) => {
    const { width: w, height: h } = meta;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    glass.width = w;
    glass.height = h;
    ctx.drawImage(video, 0, 0, w, h);
    const code = decode(w, h);
    const shown = Math.round(performance.timeOrigin + meta.expectedDisplayTime);
    if (code === null) glass.failures++;
    else {
      const latency = ((shown % span) - code + span) % span;
      glass.samples.push(latency / 1000);
      glass.shown.push([shown - latency, shown]);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

// traceRequests runs in the page before the player loads: it records in
// globalThis.requestTrace every media request made with fetch or
// XMLHttpRequest (manifests left out), with when each of its bytes
// arrived. A fetch's body is teed: this side reads it as it arrives,
// whenever the player reads its own.
function traceRequests() {
  const requests = [];
  globalThis.requestTrace = requests;
  const now = () => Math.round(performance.timeOrigin + performance.now());
  const media = (url) => !/\.(m3u8|mpd)(\?|$)/.test(url);
  const from = (range) => Number(/bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);
  const fetch = globalThis.fetch;
  globalThis.fetch = async function (input, init) {
    const url = String(input?.url ?? input);
    const headers = new Headers(init?.headers ?? input?.headers);
    const rec = { url, from: from(headers.get('Range')), start: now(), steps: [] };
    const res = await fetch.call(this, input, init);
    if (!media(url) || !res.body || (res.status !== 200 && res.status !== 206)) return res;
    requests.push(rec);
    const [mine, theirs] = res.body.tee();
    (async () => {
      const reader = mine.getReader();
      for (let n = 0; ; ) {
        const { done, value } = await reader.read();
        if (done) return;
        n += value.byteLength;
        rec.steps.push([n, now()]);
      }
    })().catch(() => {});
    const out = new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url });
    Object.defineProperty(out, 'redirected', { value: res.redirected });
    return out;
  };
  const xhr = XMLHttpRequest.prototype;
  const { open, setRequestHeader, send } = xhr;
  xhr.open = function (method, url, ...rest) {
    this.traced = { url: String(url), from: 0, steps: [] };
    return open.call(this, method, url, ...rest);
  };
  xhr.setRequestHeader = function (name, value) {
    if (name.toLowerCase() === 'range') this.traced.from = from(value);
    return setRequestHeader.call(this, name, value);
  };
  xhr.send = function (...args) {
    const rec = this.traced;
    if (rec && media(rec.url)) {
      rec.start = now();
      requests.push(rec);
      const step = (e) => rec.steps.push([e.loaded, now()]);
      this.addEventListener('progress', step);
      this.addEventListener('load', step);
    }
    return send.apply(this, args);
  };
}
