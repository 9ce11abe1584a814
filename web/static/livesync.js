// How players play a live stream, and keep a low-latency one at its live
// edge: one place for the demo page (player.js) and for the players the
// browser tests and bench/latency drive (../players.mjs), so what is
// measured is what viewers get. A player that does not catch up stays behind by every stall and
// every slow start for good: over 10 minutes without it, Shaka fell
// 0.9-1.3 s further behind the live edge and hls.js 2.8 s (README, "Does
// it stay low?"; go run ./bench/latency -seconds 600).

// shakaLiveSync is Shaka's streaming.liveSync in low-latency mode: play at
// up to 1.25x while more than 1.5 s (targetLatency plus Shaka's default
// tolerance of 0.5 s) behind the end of the seek range, and at 0.95x when
// less than 0.5 s. That end is the live edge less the playlist's
// PART-HOLD-BACK or the MPD's presentation delay.
const shakaLiveSync = { enabled: true, targetLatency: 1, maxPlaybackRate: 1.25 };

// hlsjsCatchUp is hls.js's configuration in low-latency mode: play at up to
// 1.5x while behind its target latency (PART-HOLD-BACK).
const hlsjsCatchUp = { maxLiveSyncPlaybackRate: 1.5 };

// shakaLive is Shaka's configuration for a live job; lowLatency is the
// job's Low_latency_mode. ffmpeg's MPD suggests a delay of one segment,
// which leaves no margin for encoding and upload: the player waits at every
// segment. Without it Shaka stays 1.5 x minBufferTime behind; the
// transcoder sets minBufferTime to one segment, so that is about 1.5
// segments.
export function shakaLive(lowLatency) {
  return {
    streaming: { lowLatencyMode: lowLatency, liveSync: { ...shakaLiveSync, enabled: lowLatency } },
    manifest: { dash: { ignoreSuggestedPresentationDelay: !lowLatency } },
  };
}

// hlsjsLive is hls.js's configuration for a live job.
export function hlsjsLive(lowLatency) {
  return { lowLatencyMode: lowLatency, ...(lowLatency ? hlsjsCatchUp : {}) };
}
