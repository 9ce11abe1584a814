// Shaka Player with its UI, playing one live job's playback URL at a time.
// shaka-player.ui.js is a classic script that sets window.shaka; when it is
// missing (node_modules not installed) the player says so and does nothing.

import { shakaLive } from './livesync.js';

export class Player {
  constructor(container, video, note) {
    this.video = video;
    this.note = note;
    this.url = null; // what is loaded or loading
    this.shaka = globalThis.shaka;
    this.ready = this.setUp(container);
    globalThis.ezlivePlayer = this; // for debugging from the console
  }

  async setUp(container) {
    const shaka = this.shaka;
    if (!shaka) {
      this.say('Shaka Player is not installed on this server: run `npm ci --prefix web` (make does it) and reload.', true);
      return;
    }
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) {
      this.say('This browser cannot play adaptive streams (no Media Source Extensions).', true);
      return;
    }
    const player = new shaka.Player();
    await player.attach(this.video);
    const ui = new shaka.ui.Overlay(player, container, this.video);
    ui.configure({
      overflowMenuButtons: ['quality', 'language', 'statistics'],
      castReceiverAppId: '',
      castSenderUrl: '', // nothing from other hosts
    });
    const retry = { maxAttempts: 6, baseDelay: 500, backoffFactor: 2, timeout: 10000 };
    player.configure({
      streaming: { retryParameters: retry },
      manifest: { retryParameters: retry },
    });
    player.addEventListener('error', (e) => this.onError(e.detail));
    this.player = player;
    this.ui = ui;
  }

  // play loads url unless it is what already plays. It resolves once the
  // stream has started or throws the player's error.
  // lowLatency follows the job's Low_latency_mode.
  async play(url, label, { lowLatency = false } = {}) {
    await this.ready;
    if (!this.player || this.url === url) return;
    this.url = url;
    this.say(`Loading ${label}…`);
    this.player.configure(shakaLive(lowLatency)); // livesync.js
    try {
      await this.player.load(url);
    } catch (err) {
      if (this.url === url) this.url = null; // let the caller retry
      throw err;
    }
    if (this.url !== url) return;
    if (this.player.isLive()) {
      this.say(`Waiting for ${label} to reach a live edge…`);
      if (!(await this.untilLiveEdge(url))) return;
      this.video.currentTime = this.player.seekRange().end;
    }
    this.video.muted = true; // muted autoplay is allowed everywhere
    await this.video.play().catch(() => {});
    this.say(`Playing ${label}`);
  }

  // untilLiveEdge waits until the live edge is past the stream's first
  // second. A DASH stream younger than its presentation delay has its edge
  // clamped to 0; playing from there runs ahead of the edge, and Shaka jumps
  // back once the edge is known. Starting at a real edge avoids that jump.
  // Resolves false if another URL was loaded meanwhile.
  async untilLiveEdge(url) {
    for (;;) {
      if (this.url !== url) return false;
      if (this.player.seekRange().end >= 1) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(why) {
    await this.ready;
    if (!this.player) return;
    if (this.url !== null) {
      this.url = null;
      await this.player.unload().catch(() => {});
    }
    if (why) this.say(why);
  }

  onError(err) {
    console.error('shaka', err);
    const code = err && err.code ? ` (Shaka error ${err.code})` : '';
    this.say(`Player error${code}: ${err && err.message ? err.message : 'see the console'}`, true);
  }

  say(text, isError = false) {
    this.note.textContent = text;
    this.note.classList.toggle('error', isError);
  }
}
