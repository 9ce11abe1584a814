package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/recording"
)

// Recording is one recording of a job, with its playback URLs.
type Recording struct {
	recording.Info
	Playback_urls []string `json:"Playback_urls"`
}

// Recordings lists a job's recordings, oldest first.
func (c *Client) Recordings(ctx context.Context, id string) ([]Recording, error) {
	var out struct{ Recordings []Recording }
	_, err := c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/recordings", nil, &out)
	return out.Recordings, err
}

// DeleteKeepingRecordings removes a stopped or failed job and its outputs
// but its recordings, which outlive it (listed, played, clipped and deleted
// as before, until the last is deleted or expires): the answer is the job,
// in state deleting, and the recordings kept.
func (c *Client) DeleteKeepingRecordings(ctx context.Context, id string) (*jobspec.LiveJob, []Recording, error) {
	var out struct {
		jobspec.LiveJob
		Kept_recordings []Recording
	}
	if _, err := c.do(ctx, http.MethodDelete, "/jobs/"+url.PathEscape(id)+"?keep_recordings=true", nil, &out); err != nil {
		return nil, nil, err
	}
	return &out.LiveJob, out.Kept_recordings, nil
}

// DeleteRecording deletes one recording of a job.
func (c *Client) DeleteRecording(ctx context.Context, id, run string) error {
	_, err := c.do(ctx, http.MethodDelete, "/jobs/"+url.PathEscape(id)+"/recordings/"+url.PathEscape(run), nil, nil)
	return err
}

// ClipRequest asks for a clip: Start and End are each a time.Time (a
// program date-time) or a number of seconds back from the live edge.
type ClipRequest struct {
	Start     any    `json:"Start"`
	End       any    `json:"End"`
	Recording string `json:"Recording,omitempty"`
}

// Clip is the answer of POST /jobs/:id/clips.
type Clip struct {
	Recording     string
	Start, End    time.Time
	Cut           string
	Playback_urls []string
}

// Clip asks for a clip of a job.
func (c *Client) Clip(ctx context.Context, id string, req ClipRequest) (*Clip, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var clip Clip
	if _, err := c.do(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/clips", body, &clip); err != nil {
		return nil, err
	}
	return &clip, nil
}
