// Where the page learns about jobs. A source is a function of
// {onJobs, onError} returning {refresh(), stop()}: streamJobs follows the
// API's Server-Sent Events, pollJobs polls GET /jobs.

import { api } from './api.js';

export function pollJobs({ onJobs, onError, intervalMs = 1500 }) {
  let stopped = false;
  let timer = null;
  let inflight = false;
  let again = false; // a refresh asked for while a poll was in flight

  async function tick() {
    clearTimeout(timer);
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const jobs = await api.listJobs();
      if (!stopped) onJobs(Array.isArray(jobs) ? jobs : [], { live: false });
    } catch (err) {
      if (!stopped) onError(err);
    } finally {
      inflight = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      tick();
      return;
    }
    timer = setTimeout(tick, intervalMs);
  }

  tick();
  return {
    refresh: tick,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// streamJobs lists the jobs once, then follows GET /events?stream=1: a "job"
// event carries a changed record, "state" a state change, "deleted" the end
// of a job. After a broken connection it lists again, since events may have
// been missed. A listing may answer after newer events (they travel on
// another connection), so a record never replaces a newer one. When the
// server has no event stream it falls back to polling.
export function streamJobs({ onJobs, onError, token = '', fallback = pollJobs }) {
  const jobs = new Map();
  let source = null;
  let poller = null;
  let stopped = false;
  let opened = false;

  const emit = () => onJobs([...jobs.values()], { live: Boolean(source) });

  // keep stores a record unless the one held was updated later.
  function keep(job) {
    const held = jobs.get(job.Id);
    if (held && newer(held, job)) return;
    jobs.set(job.Id, job);
  }

  async function list() {
    try {
      const all = await api.listJobs();
      if (stopped) return;
      const listed = new Map((Array.isArray(all) ? all : []).map((j) => [j.Id, j]));
      for (const id of jobs.keys()) if (!listed.has(id)) jobs.delete(id);
      for (const j of listed.values()) keep(j);
      emit();
    } catch (err) {
      if (!stopped) onError(err);
    }
  }

  function parse(e) {
    try {
      return JSON.parse(e.data);
    } catch {
      return null;
    }
  }

  function connect() {
    const q = new URLSearchParams({ stream: '1' });
    if (token) q.set('access_token', token);
    source = new EventSource(`/events?${q}`);
    source.addEventListener('open', () => {
      if (opened) list(); // reconnected: catch up on what was missed
      opened = true;
    });
    source.addEventListener('job', (e) => {
      const job = parse(e);
      if (!job || !job.Id) return;
      keep(job);
      emit();
    });
    source.addEventListener('state', (e) => {
      const ev = parse(e);
      const job = ev && jobs.get(ev.JobId);
      if (!job || !ev.To) return;
      keep({ ...job, State: ev.To, State_reason: ev.Reason || '', Time_updated: ev.Time || job.Time_updated });
      emit();
    });
    source.addEventListener('deleted', (e) => {
      const ev = parse(e);
      if (ev && jobs.delete(ev.JobId)) emit();
    });
    source.addEventListener('error', () => {
      if (stopped || source.readyState !== EventSource.CLOSED) return; // the browser retries
      source = null;
      if (!opened) {
        poller = fallback({ onJobs, onError }); // no event stream here
      } else {
        setTimeout(() => !stopped && connect(), 2000);
      }
    });
  }

  list().then(() => !stopped && connect());
  return {
    refresh() {
      if (poller) poller.refresh();
      else list();
    },
    stop() {
      stopped = true;
      source?.close();
      poller?.stop();
    },
  };
}

// newer reports whether record a was updated after record b.
export function newer(a, b) {
  return Date.parse(a.Time_updated) > Date.parse(b.Time_updated);
}
