// The browser tests' shared calls to the running system's API (EZLIVE_URL).
// Not under test/, so node --test does not run it as a test file.

import { BASE } from './chromium.mjs';

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
