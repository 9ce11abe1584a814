// Package jobspec is the live job domain: what a customer asks for (the
// original project's wire format: a ladder, its packaging, low latency,
// DRM), what the platform records of it (LiveJob, State), and the product's
// rules over them: validation, defaults, cost, which manifests a job has and
// what low latency means. It knows no tool (package ffmpeg maps a job onto
// ffmpeg) and imports no package of ours; it is pure: no I/O, no processes.
package jobspec

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Spec is the body of POST /jobs, in the original project's spelling.
type Spec struct {
	Input      json.RawMessage `json:"Input,omitempty"`
	Output     Output          `json:"Output"`
	Input_loss *InputLoss      `json:"Input_loss,omitempty"`
	Api_test   Flag            `json:"Api_test,omitempty"`
	// Playback_policy is PlaybackPublic (empty means it) or PlaybackSigned.
	Playback_policy string `json:"Playback_policy,omitempty"`
	// Recording keeps every segment of every run as a recording (Records);
	// absent means on.
	Recording *Flag `json:"Recording,omitempty"`
}

// InputLoss is what the output shows while the publisher is away: the last
// frame repeated, then a slate, until the reconnect window passes and the
// stream ends. The numbers are pointers so that an absent one (the default)
// differs from 0; InputLossOf gives the values in effect.
type InputLoss struct {
	Reconnect_window  *float64 `json:"Reconnect_window,omitempty"`  // seconds; 0: no slate, the stream ends at once
	Slate_url         string   `json:"Slate_url,omitempty"`         // an image; empty: the built-in card
	Repeat_last_frame *float64 `json:"Repeat_last_frame,omitempty"` // seconds before the slate
}

// Output describes the packaging and the ABR ladder.
type Output struct {
	Stream_type             string          `json:"Stream_type"`
	Segment_format          string          `json:"Segment_format"`
	Fragment_duration       float64         `json:"Fragment_duration,omitempty"`
	Segment_duration        float64         `json:"Segment_duration"`
	Low_latency_mode        Flag            `json:"Low_latency_mode"`
	Time_shift_buffer_depth float64         `json:"Time_shift_buffer_depth,omitempty"`
	Drm                     *Drm            `json:"Drm,omitempty"`
	S3_output               json.RawMessage `json:"S3_output,omitempty"`
	Video_outputs           []VideoOutput   `json:"Video_outputs"`
	Audio_outputs           []AudioOutput   `json:"Audio_outputs"`
}

// VideoOutput is one rendition of the ladder.
type VideoOutput struct {
	Label       string  `json:"Label"`
	Codec       string  `json:"Codec"`
	Framerate   float64 `json:"Framerate"`
	Width       int     `json:"Width"`
	Height      int     `json:"Height"`
	Bitrate     string  `json:"Bitrate"`
	Max_bitrate string  `json:"Max_bitrate"`
	Buf_size    string  `json:"Buf_size"`
	Preset      string  `json:"Preset"`
	Threads     int     `json:"Threads"`
	Gop_size    float64 `json:"Gop_size"`
	Crf         *int    `json:"Crf,omitempty"`
}

// AudioOutput is the audio rendition shared by every variant.
type AudioOutput struct {
	Label   string `json:"Label"`
	Codec   string `json:"Codec"`
	Bitrate string `json:"Bitrate"`
}

// Drm is the original project's DRM block.
type Drm struct {
	Disable_clear_key Flag   `json:"Disable_clear_key"`
	Protection_system string `json:"Protection_system"`
	Protection_scheme string `json:"Protection_scheme"`
}

// Flag is a boolean that clients of the original send as true/false or 1/0.
type Flag bool

// UnmarshalJSON accepts true, false, 1, 0, "true", "false", "1" and "0".
func (f *Flag) UnmarshalJSON(b []byte) error {
	switch string(bytes.Trim(b, `"`)) {
	case "true", "1":
		*f = true
	case "false", "0", "null", "":
		*f = false
	default:
		return fmt.Errorf("want true, false, 1 or 0, got %s", b)
	}
	return nil
}
