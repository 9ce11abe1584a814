// The browser tests' shared calls to the running system's API (EZLIVE_URL),
// and the hooks and job spec of the files that play jobs on bare pages.
// Not under test/, so node --test does not run it as a test file.

import { before, after } from 'node:test';
import { BASE, launchChromium } from './chromium.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// api calls the API and returns the status and the decoded JSON body.
export async function api(method, path, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    body: body && JSON.stringify(body),
    headers: body ? { 'Content-Type': 'application/json' } : {},
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

// apiJSON is api for calls that must succeed: it returns the JSON body and
// throws on any status but 2xx.
export async function apiJSON(method, path, body) {
  const res = await api(method, path, body);
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res.json;
}

// untilState waits until job id is in one of states; it throws when the job
// failed or after timeoutMs.
export async function untilState(id, states, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await apiJSON('GET', `/jobs/${id}`);
    if (states.includes(job.State)) return job;
    if (job.State === 'failed' || Date.now() > deadline) {
      throw new Error(`job ${id} is ${job.State} (${job.State_reason}), wanted ${states.join('/')}`);
    }
    await sleep(500);
  }
}

// cleanUp stops a job's feed and the job, waits for it to stop and deletes
// it, so a test that failed midway leaves no transcoder running. It never
// throws.
export async function cleanUp(id) {
  const call = (method, p) => api(method, `/jobs/${id}${p}`).catch(() => null);
  await call('DELETE', '/feed');
  await call('PUT', '/stop');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await call('GET', '');
    if (!res || res.status === 404) return;
    if (['stopped', 'failed'].includes(res.json?.State)) break;
    await sleep(1000);
  }
  await call('DELETE', '');
}

// withStreamingJob creates a job of spec, starts the server's test feed
// into it, and once it streams, runs fn(job); then it cleans the job up,
// whatever happened. Each step may take timeoutMs.
export async function withStreamingJob(spec, timeoutMs, fn) {
  const job = await apiJSON('POST', '/jobs', spec);
  try {
    await untilState(job.Id, ['running'], timeoutMs);
    await apiJSON('POST', `/jobs/${job.Id}/feed`);
    await untilState(job.Id, ['streaming'], timeoutMs);
    return await fn(job);
  } finally {
    await cleanUp(job.Id);
  }
}

// lightOutput is the Output of a light job: stream (hls, dash) in fMP4
// segments of segment seconds, one 270p rendition and audio: cheap enough
// for several jobs and players at once on two cores.
export function lightOutput(stream, segment) {
  return {
    Stream_type: stream,
    Segment_format: 'fmp4',
    Segment_duration: segment,
    Video_outputs: [
      { Label: 'video400k', Codec: 'h264', Framerate: 25, Width: 480, Height: 270, Bitrate: '400k', Max_bitrate: '500k', Preset: 'veryfast', Threads: 1, Gop_size: 1 },
    ],
    Audio_outputs: [{ Label: 'audio64k', Codec: 'aac', Bitrate: '64k' }],
  };
}

// chromiumPerFile registers a test file's hooks: before its tests, Chromium
// with a fresh profile named after prefix (run.browser); after them, the
// browser closed and the lines the tests put in run.report printed.
export function chromiumPerFile(prefix) {
  const run = { browser: null, report: [] };
  before(async () => {
    if (!BASE) throw new Error('EZLIVE_URL is not set: start the system (ezlive dev) first');
    run.browser = await launchChromium(prefix, { viewport: { width: 800, height: 600 } });
  });
  after(async () => {
    await run.browser?.close();
    for (const line of run.report) console.log(line);
  });
  return run;
}
