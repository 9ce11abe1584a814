// Unit tests of the page's job source (web/static/jobsource.js), with fetch
// and EventSource replaced: no server and no browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';

globalThis.sessionStorage = { getItem: () => null, setItem() {}, removeItem() {} };

class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static last = null;
  constructor(url) {
    this.url = url;
    this.readyState = FakeEventSource.CONNECTING;
    this.listeners = {};
    FakeEventSource.last = this;
  }
  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }
  emit(type, data) {
    if (type === 'open') this.readyState = FakeEventSource.OPEN;
    for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data) });
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
}
globalThis.EventSource = FakeEventSource;

// Each GET /jobs waits for the test to answer it.
const pending = [];
globalThis.fetch = (path) =>
  new Promise((resolve) => {
    pending.push((body) => resolve({ ok: true, status: 200, text: async () => JSON.stringify(body) }));
  });

const { streamJobs } = await import('../static/jobsource.js');

const tick = () => new Promise((r) => setTimeout(r, 0));
const at = (s) => `2026-12-02T00:00:${String(s).padStart(2, '0')}Z`;

test('a listing that answers after newer events does not bring back an older record', async () => {
  let shown = [];
  const source = streamJobs({ onJobs: (list) => (shown = list), onError: (err) => assert.fail(err) });
  try {
    pending.shift()([{ Id: 'a', State: 'streaming', Time_updated: at(1) }]);
    await tick();
    const es = FakeEventSource.last;
    es.emit('open', {});

    source.refresh(); // e.g. after the Stop button: the listing is slow to answer
    es.emit('state', { JobId: 'a', From: 'stopping', To: 'stopped', Time: at(3) });
    es.emit('job', { Id: 'a', State: 'stopped', Time_updated: at(3) });
    assert.equal(shown[0].State, 'stopped');

    pending.shift()([{ Id: 'a', State: 'stopping', Time_updated: at(2) }]);
    await tick();
    assert.equal(shown.length, 1);
    assert.equal(shown[0].State, 'stopped', 'the older listing replaced the newer record');
  } finally {
    source.stop();
  }
});

test('a listing removes the jobs it no longer has and adds new ones', async () => {
  let shown = [];
  const source = streamJobs({ onJobs: (list) => (shown = list), onError: (err) => assert.fail(err) });
  try {
    pending.shift()([{ Id: 'a', State: 'stopped', Time_updated: at(1) }]);
    await tick();
    source.refresh();
    pending.shift()([{ Id: 'b', State: 'created', Time_updated: at(2) }]);
    await tick();
    assert.deepEqual(
      shown.map((j) => j.Id),
      ['b'],
    );
  } finally {
    source.stop();
  }
});
