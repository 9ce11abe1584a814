// The three players the tests and bench/latency play a live stream with, each
// on a bare page: Shaka Player, hls.js and dash.js, loaded from node_modules
// as the page's scripts. Shaka and hls.js are configured for live play by
// web/static/livesync.js, as the demo page is. Not under test/, so node --test does not run it.

import { createRequire } from 'node:module';
import { hlsjsLive, shakaLive } from './static/livesync.js';

const require = createRequire(import.meta.url);
const SCRIPTS = {
  shaka: require.resolve('shaka-player/dist/shaka-player.compiled.js'),
  'hls.js': require.resolve('hls.js/dist/hls.min.js'),
  'dash.js': require.resolve('dashjs') // the "require" export: the UMD build,
};

export const PLAYERS = Object.keys(SCRIPTS);

// open plays url with player (one of PLAYERS) in a new page of context and
// resolves once the video plays; lowLatency is the job's Low_latency_mode,
// config more of the player's own configuration (a lever to try), prepare a
// function run in the page before the player's script is loaded.
// The page has globalThis.estimate(), the player's own latency estimate in
// seconds, and globalThis.seekRange(), the {start, end} (video time) it can
// seek to. It throws the player's fatal error, if any.
export async function open(context, player, url, { lowLatency = false, config = {}, prepare, timeoutMs = 60_000, onError = () => {} } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (err) => onError(`page error: ${err.message}`));
  await page.setContent('<video id="v" muted playsinline width="640"></video>');
  if (prepare) await page.evaluate(prepare);
  await page.addScriptTag({ path: SCRIPTS[player] });
  const live = { shaka: shakaLive, 'hls.js': hlsjsLive }[player]?.(lowLatency);
  await page.evaluate(START[player], { url, lowLatency, config, live });
  try {
    await page.waitForFunction(
      () => {
        const v = document.getElementById('v');
        return globalThis.playerError || (v.currentTime > 0 && !v.paused && v.readyState >= 3);
      },
      null,
      { timeout: timeoutMs, polling: 250 },
    );
  } catch (err) {
    const state = await videoState(page).catch((e) => e.message);
    await page.close();
    throw new Error(`${player} did not play ${url} within ${timeoutMs} ms: ${JSON.stringify(state)} (${err.message.split('\n')[0]})`);
  }
  const failed = await page.evaluate(() => globalThis.playerError);
  if (failed) {
    await page.close();
    throw new Error(`${player}: ${failed}`);
  }
  return page;
}

// videoState is what page's video element says: where it plays, what it
// holds and why it may not play.
const videoState = (page) =>
  page.evaluate(() => {
    const v = document.getElementById('v');
    const buffered = [];
    for (let i = 0; i < v.buffered.length; i++) buffered.push([+v.buffered.start(i).toFixed(2), +v.buffered.end(i).toFixed(2)]);
    return { time: v.currentTime, paused: v.paused, readyState: v.readyState, networkState: v.networkState, buffered, error: v.error?.message, playerError: globalThis.playerError };
  });

// START runs in the page: it starts the player and defines estimate().
// Function expressions: Playwright sends a function's source to the page.
const START = {
  shaka: async function ({ url, config, live }) {
    const shaka = globalThis.shaka;
    shaka.polyfill.installAll();
    const video = document.getElementById('v');
    const player = new shaka.Player();
    await player.attach(video);
    player.configure(live);
    player.configure(config);
    player.addEventListener('error', (e) => {
      globalThis.playerError = `Shaka error ${e.detail?.code}`;
    });
    globalThis.player = player;
    globalThis.estimate = () => player.getStats().liveLatency;
    globalThis.seekRange = () => player.seekRange();
    await player.load(url);
    video.play();
  },
  'hls.js': function ({ url, config, live }) {
    const video = document.getElementById('v');
    const hls = new globalThis.Hls({ ...live, ...config });
    globalThis.hls = hls;
    hls.on(globalThis.Hls.Events.ERROR, (_, d) => {
      if (d.fatal) globalThis.playerError = `${d.type}: ${d.details}`;
    });
    hls.on(globalThis.Hls.Events.MANIFEST_PARSED, () => video.play());
    // The wall clock minus the playhead's EXT-X-PROGRAM-DATE-TIME; without
    // dates, hls.js's distance to the live edge.
    globalThis.estimate = () => (hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : hls.latency);
    // hls.js gives a live stream's sliding window to the media element.
    globalThis.seekRange = () => {
      const s = video.seekable;
      return s.length ? { start: s.start(0), end: s.end(s.length - 1) } : { start: 0, end: 0 };
    };
    hls.loadSource(url);
    hls.attachMedia(video);
  },
  'dash.js': function ({ url, lowLatency, config }) {
    const video = document.getElementById('v');
    const player = globalThis.dashjs.MediaPlayer().create();
    player.updateSettings({ streaming: { lowLatencyEnabled: lowLatency } });
    player.updateSettings(config);
    player.on(globalThis.dashjs.MediaPlayer.events.ERROR, (e) => {
      globalThis.playerError = `dash.js error ${e.error?.code}: ${e.error?.message}`;
    });
    globalThis.player = player;
    globalThis.estimate = () => player.getCurrentLiveLatency();
    globalThis.seekRange = () => {
      const w = player.getDvrWindow();
      return { start: w.start, end: w.end };
    };
    player.initialize(video, url, true);
  },
};
