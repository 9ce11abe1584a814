package jobspec

import (
	"fmt"
	"strings"
	"time"
)

// State is where a live job is in its life.
type State string

// The states of a live job. created → scheduled → running (listening for
// input) → streaming (media flowing) → stopping → stopped; failed with a
// reason; deleting while its outputs are removed (then the record is gone).
const (
	StateCreated   State = "created"
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StateStreaming State = "streaming"
	StateStopping  State = "stopping"
	StateStopped   State = "stopped"
	StateFailed    State = "failed"
	StateDeleting  State = "deleting"
)

// Active reports whether the job should have a transcoder placed.
func (s State) Active() bool {
	switch s {
	case StateCreated, StateScheduled, StateRunning, StateStreaming:
		return true
	}
	return false
}

// LiveJob is the job record: the spec as sent plus what the platform adds.
// It is stored in Redis as JSON and returned by the API as is (to holders of
// the API token): the publisher's credentials (StreamKey, Srt_passphrase)
// are here, the platform's secrets (the upload token, DRM keys) are kept
// elsewhere and never appear here.
type LiveJob struct {
	Id                      string    `json:"Id"`
	State                   State     `json:"State"`
	State_reason            string    `json:"State_reason,omitempty"`
	StreamKey               string    `json:"StreamKey"`
	RtmpIngestUrl           string    `json:"RtmpIngestUrl"`
	SrtIngestUrl            string    `json:"SrtIngestUrl,omitempty"`
	Srt_passphrase          string    `json:"Srt_passphrase,omitempty"` // required of SRT publishers of this job; rotated with StreamKey
	Playback_url            string    `json:"Playback_url"`
	Playback_urls           []string  `json:"Playback_urls,omitempty"`
	Thumbnail_url           string    `json:"Thumbnail_url,omitempty"` // the latest frame as a JPEG, beside the manifests (jobspec.HasThumbnail)
	Spec                    Spec      `json:"Spec"`
	Job_validation_warnings []string  `json:"Job_validation_warnings"`
	Assigned_worker_id      string    `json:"Assigned_worker_id"`
	Ingest_addr             string    `json:"Ingest_addr,omitempty"`
	Ingest_gateway          string    `json:"Ingest_gateway,omitempty"`     // e.g. rtmp://ingest.example.com/live; empty: publish to the transcoder
	Ingest_gateway_srt      string    `json:"Ingest_gateway_srt,omitempty"` // e.g. srt://ingest.example.com:9710; empty: no SRT
	Placement_generation    int64     `json:"Placement_generation"`
	Placement_attempts      int       `json:"Placement_attempts"`
	Time_created            time.Time `json:"Time_created"`
	Time_updated            time.Time `json:"Time_updated"`
	Time_scheduled          time.Time `json:"Time_scheduled,omitzero"`
	Time_streaming          time.Time `json:"Time_streaming,omitzero"`
	Time_stopped            time.Time `json:"Time_stopped,omitzero"`
	Time_last_heartbeat     time.Time `json:"Time_last_heartbeat,omitzero"`
	Input_lost_since        time.Time `json:"Input_lost_since,omitzero"`     // the publisher's input is lost since; zero while live or before any publisher
	Output_failing_since    time.Time `json:"Output_failing_since,omitzero"` // the origin has not taken the outputs since; zero while it does
	Output_error            string    `json:"Output_error,omitempty"`        // the newest failed write while Output_failing_since is set
	Stats                   *Stats    `json:"Stats,omitempty"`
	Bytes_stored            int64     `json:"Bytes_stored,omitempty"`       // the job's outputs and recordings in storage, as the origin last measured
	Time_bytes_measured     time.Time `json:"Time_bytes_measured,omitzero"` // when Bytes_stored was measured
	Events                  []Event   `json:"Events,omitempty"`
	// Keep_recordings, set by DELETE /jobs/:id?keep_recordings=true,
	// makes the job's recordings outlive it (store.KeptJob).
	Keep_recordings bool `json:"Keep_recordings,omitempty"`
}

// Stats are the transcoder's latest figures from ffmpeg's -progress output.
type Stats struct {
	Fps            float64 `json:"Fps"`
	Bitrate_kbps   float64 `json:"Bitrate_kbps"`
	Speed          float64 `json:"Speed"`
	Frames         int64   `json:"Frames"`
	Dropped_frames int64   `json:"Dropped_frames"`
	Bytes_in       int64   `json:"Bytes_in"`
	Bytes_out      int64   `json:"Bytes_out"`
	Restarts       int     `json:"Restarts"`
	// Upload_failures counts the writes the origin did not take, after
	// retries, since the transcoder started (OutputFailingSince).
	Upload_failures int64 `json:"Upload_failures"`
}

// Event is one thing that happened to a job, kept with it: a state change
// (From → To), or an input or output event (Type), which leaves the state
// as it is: From and To both name it.
type Event struct {
	Time   time.Time `json:"Time"`
	Type   EventType `json:"Type,omitempty"`
	From   State     `json:"From,omitempty"`
	To     State     `json:"To"`
	Reason string    `json:"Reason,omitempty"`
}

// EventType says what an Event records.
type EventType string

// The types of events. A state change has none, as every event had before
// there were others.
const (
	EventStateChange    EventType = ""
	EventInputLost      EventType = "input_lost"      // the publisher's input was lost (Time: since when)
	EventInputRestored  EventType = "input_restored"  // the publisher's input is back
	EventOutputFailing  EventType = "output_failing"  // the origin stopped taking the outputs (Time: since when)
	EventOutputRestored EventType = "output_restored" // the origin takes the outputs again
)

// StateChange reports whether the event is a change of state.
func (e Event) StateChange() bool { return e.Type == EventStateChange }

// MaxEvents bounds the history kept in a record.
const MaxEvents = 100

// SetState moves the job to state to, recording when and why. Leaving the
// states in which a transcoder takes a publisher (Listening) clears
// Input_lost_since and Output_failing_since without an input_restored or
// output_restored event: the state change says that the placement ended.
func (j *LiveJob) SetState(to State, reason string, now time.Time) {
	if j.State == to && j.State_reason == reason {
		return
	}
	j.addEvent(Event{Time: now, From: j.State, To: to, Reason: reason}, now)
	j.State, j.State_reason = to, reason
	if !j.Listening() {
		j.Input_lost_since = time.Time{}
		j.Output_failing_since, j.Output_error = time.Time{}, ""
	}
}

// SetInputLostSince records the transcoder's word on the publisher's input:
// lost since when, or zero while it is live or before any publisher. A loss
// adds an input_lost event at its time, its end an input_restored event at
// now; a new loss time over an older one means the input came back and was
// lost again between two reports, and adds both.
func (j *LiveJob) SetInputLostSince(since, now time.Time) {
	j.setSince(&j.Input_lost_since, since, now,
		Event{Type: EventInputLost, Reason: inputLostReason(j.Spec)},
		Event{Type: EventInputRestored, Reason: "the publisher's input is back"})
}

// setSince records a condition a transcoder reports as since when (zero:
// it does not hold) in *field. Its start adds began at since, its end
// ended at now; a new since over an older one means it ended and began
// again between two reports, and adds both, ended at the latest since.
// Both events leave the state as it is.
func (j *LiveJob) setSince(field *time.Time, since, now time.Time, began, ended Event) {
	was := *field
	if since.Equal(was) {
		return
	}
	if !was.IsZero() {
		ended.Time = now
		if !since.IsZero() {
			ended.Time = since // at the latest
		}
		ended.From, ended.To = j.State, j.State
		j.addEvent(ended, now)
	}
	if !since.IsZero() {
		began.Time, began.From, began.To = since, j.State, j.State
		j.addEvent(began, now)
	}
	*field = since
}

func inputLostReason(s Spec) string {
	window := InputLossOf(s).ReconnectWindow
	if window == 0 {
		return "the publisher's input was lost: the stream ends (no reconnect window)"
	}
	return fmt.Sprintf("the publisher's input was lost: the output stays on the slate for up to %s s while it reconnects", num(window.Seconds()))
}

// LastStateChange returns the newest state change kept in the history;
// false when none is.
func (j *LiveJob) LastStateChange() (Event, bool) {
	for i := len(j.Events) - 1; i >= 0; i-- {
		if j.Events[i].StateChange() {
			return j.Events[i], true
		}
	}
	return Event{}, false
}

// addEvent keeps ev in the bounded history; the record was updated at now.
func (j *LiveJob) addEvent(ev Event, now time.Time) {
	j.Events = append(j.Events, ev)
	if len(j.Events) > MaxEvents {
		j.Events = j.Events[len(j.Events)-MaxEvents:]
	}
	j.Time_updated = now
}

// Listening reports whether the job's transcoder takes a publisher now.
func (j *LiveJob) Listening() bool {
	return j.State == StateRunning || j.State == StateStreaming
}

// SetIngestAddr records where the job's transcoder listens ("" when none)
// and refreshes RtmpIngestUrl.
func (j *LiveJob) SetIngestAddr(addr string) {
	j.Ingest_addr = addr
	j.refreshIngestURL()
}

// SetStreamKey gives the job a new stream key and, with it, a new SRT
// passphrase (10 to 79 characters, URL-safe), and refreshes the ingest
// URLs. They change together so that rotating the key also revokes the
// passphrase.
func (j *LiveJob) SetStreamKey(key, srtPassphrase string) {
	j.StreamKey, j.Srt_passphrase = key, srtPassphrase
	j.refreshIngestURL()
}

// MaskStreamKey keeps enough of a stream key to correlate log lines, not to
// publish with: its first 4 characters, then ****.
func MaskStreamKey(key string) string {
	if len(key) <= 4 {
		return "****"
	}
	return key[:4] + "****"
}

// MaskStreamKeyIn masks every occurrence of key in s (a log line that
// names an ingest URL, say).
func MaskStreamKeyIn(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, MaskStreamKey(key))
}

// refreshIngestURL is the one place RtmpIngestUrl is decided: behind an
// ingest gateway it is the gateway's stable URL, which survives stop, resume
// and re-placement; without one it is the transcoder's own listener, known
// only while the job is placed. SrtIngestUrl carries the job's passphrase
// as ffmpeg's and OBS's srt:// URLs take it.
func (j *LiveJob) refreshIngestURL() {
	j.SrtIngestUrl = ""
	if j.Ingest_gateway_srt != "" {
		j.SrtIngestUrl = j.Ingest_gateway_srt + "?streamid=" + j.StreamKey
		if j.Srt_passphrase != "" {
			j.SrtIngestUrl += "&passphrase=" + j.Srt_passphrase
		}
	}
	switch {
	case j.Ingest_gateway != "":
		j.RtmpIngestUrl = strings.TrimSuffix(j.Ingest_gateway, "/") + "/" + j.StreamKey
	case j.Ingest_addr != "":
		j.RtmpIngestUrl = "rtmp://" + j.Ingest_addr + "/live/" + j.StreamKey
	default:
		j.RtmpIngestUrl = ""
	}
}
