// Job spec templates: a packaging (stream type and segment format) combined
// with a ladder. Keys keep the original project's spelling.

export const packagings = {
  'hls-mpegts': { label: 'HLS · MPEG-TS', Stream_type: 'hls', Segment_format: 'mpegts' },
  'hls-fmp4': { label: 'HLS · fMP4', Stream_type: 'hls', Segment_format: 'fmp4' },
  'dash-fmp4': { label: 'DASH · fMP4', Stream_type: 'dash', Segment_format: 'fmp4' },
  'dash-cmaf': { label: 'CMAF (DASH)', Stream_type: 'dash', Segment_format: 'cmaf' },
  'hls-cmaf': { label: 'CMAF (HLS)', Stream_type: 'hls', Segment_format: 'cmaf' },
};

const rung = (label, width, height, bitrate, maxBitrate, preset, threads) => ({
  Label: label,
  Codec: 'h264',
  Framerate: 30,
  Width: width,
  Height: height,
  Bitrate: bitrate,
  Max_bitrate: maxBitrate,
  Buf_size: maxBitrate,
  Preset: preset,
  Threads: threads,
  Gop_size: 2,
});

const aac128 = { Label: 'audio128k', Codec: 'aac', Bitrate: '128k' };

export const ladders = {
  sample: {
    label: 'Sample: 360p + 432p',
    video: [
      { ...rung('video365k', 640, 360, '365k', '500k', 'faster', 2), Framerate: 25 },
      { ...rung('video550k', 768, 432, '550k', '750k', 'faster', 2), Framerate: 25 },
    ],
    audio: [aac128],
  },
  light: {
    label: 'Light: one 360p rendition',
    segmentDuration: 2, // starts playing sooner; the browser test uses it
    video: [rung('video600k', 640, 360, '600k', '800k', 'veryfast', 1)],
    audio: [{ Label: 'audio96k', Codec: 'aac', Bitrate: '96k' }],
  },
  full1080: {
    label: '1080p three-rung ladder',
    video: [
      rung('video5000k', 1920, 1080, '5000k', '6000k', 'veryfast', 4),
      rung('video2800k', 1280, 720, '2800k', '3400k', 'veryfast', 2),
      rung('video800k', 640, 360, '800k', '1000k', 'veryfast', 1),
    ],
    audio: [aac128],
  },
};

// buildSpec returns a job spec (an object) for the given keys.
export function buildSpec(packagingKey, ladderKey) {
  const p = packagings[packagingKey];
  const l = ladders[ladderKey];
  if (!p || !l) throw new Error(`unknown template ${packagingKey}/${ladderKey}`);
  return {
    Output: {
      Stream_type: p.Stream_type,
      Segment_format: p.Segment_format,
      Segment_duration: l.segmentDuration ?? 4,
      Low_latency_mode: false,
      Video_outputs: structuredClone(l.video),
      Audio_outputs: structuredClone(l.audio),
    },
  };
}
