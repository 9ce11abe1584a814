// The API as the page uses it. Every call resolves to the parsed body or
// throws an ApiError carrying the RFC 9457 problem the server sent.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    // [{field, message}] when the server rejected a spec
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

// The bearer token, when the API is configured with one; kept for the tab.
export const token = {
  get: () => sessionStorage.getItem('ezlive-token') || '',
  set: (t) => (t ? sessionStorage.setItem('ezlive-token', t) : sessionStorage.removeItem('ezlive-token')),
};

async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (token.get()) init.headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { title: `API unreachable: ${err.message}` });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.trim() };
    }
  }
  if (!res.ok) {
    throw new ApiError(res.status, data && typeof data === 'object' ? data : { title: res.statusText });
  }
  return data;
}

const job = (id) => `/jobs/${encodeURIComponent(id)}`;

export const api = {
  createJob: (specText) => request('POST', '/jobs', specText),
  listJobs: () => request('GET', '/jobs'),
  getJob: (id) => request('GET', job(id)),
  stopJob: (id) => request('PUT', `${job(id)}/stop`),
  resumeJob: (id) => request('PUT', `${job(id)}/resume`),
  deleteJob: (id) => request('DELETE', job(id)),
  feedStatus: (id) => request('GET', `${job(id)}/feed`),
  startFeed: (id) => request('POST', `${job(id)}/feed`),
  stopFeed: (id) => request('DELETE', `${job(id)}/feed`),
  // a viewer token and the playback URLs that carry it, good for ttl seconds
  playbackToken: (id, ttl) => request('POST', `${job(id)}/playback_tokens`, { Ttl: ttl }),
  // the job's recordings, oldest first, each with its playback URLs
  recordings: (id) => request('GET', `${job(id)}/recordings`),
  // a clip: start and end are RFC 3339 date-times or seconds back from the live edge
  clip: (id, start, end, recording) => request('POST', `${job(id)}/clips`, { Start: start, End: end, Recording: recording }),
};
