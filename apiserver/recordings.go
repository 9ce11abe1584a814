package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/recording"
	"github.com/ezlivestreaming/ezlive/store"
)

// RecordingStore is what the recording routes need of the store: the
// origin writes the recordings, the API lists and deletes them, also those
// of a deleted job that kept them (KeptJob stands in for it).
type RecordingStore interface {
	Recordings(ctx context.Context, jobID string) ([]recording.Info, error)
	DeleteRecording(ctx context.Context, jobID, run string) error
	KeptJob(ctx context.Context, id string) (*jobspec.LiveJob, error)
}

var _ RecordingStore = (*store.Store)(nil)

// recordingView is one recording in GET /jobs/:id/recordings.
type recordingView struct {
	recording.Info
	Playback_urls []string `json:"Playback_urls"`
	// Storyboard_url is the recording's seek previews (a WebVTT index of
	// a sprite), made by the origin on first read; HLS recordings only.
	Storyboard_url string `json:"Storyboard_url,omitempty"`
}

func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	job, err := s.recordedJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	out, err := s.recordingViews(r.Context(), job)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"Recordings": out})
}

// recordedJob is the job whose recordings a route serves: its record, or
// for a deleted job that kept its recordings, KeptJob's stand-in (no
// state, its playback policy).
func (s *Server) recordedJob(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	job, err := s.lookupJob(ctx, id)
	if jobspec.ErrorCode(err) == jobspec.ENOTFOUND && checkID(id) == nil {
		return s.cfg.Recordings.KeptJob(ctx, id)
	}
	return job, err
}

// recordingViews are the job's recordings as listed, oldest first.
func (s *Server) recordingViews(ctx context.Context, job *jobspec.LiveJob) ([]recordingView, error) {
	recs, err := s.cfg.Recordings.Recordings(ctx, job.Id)
	if err != nil {
		return nil, err
	}
	base, err := s.recordingsBase(ctx, job)
	if err != nil {
		return nil, err
	}
	out := make([]recordingView, len(recs))
	for i, rec := range recs {
		out[i] = recordingView{Info: rec, Playback_urls: s.recordingURLs(base, rec, "")}
		if rec.HLS || rec.DASH {
			out[i].Storyboard_url = s.originFolder(base+"/"+jobspec.Recordings+"/"+rec.Run) + recording.StoryboardVTT
		}
	}
	return out, nil
}

// recordingsBase is the folder of a job's outputs at the origin that its
// recordings' URLs start from: live/<id>, or for a job whose playback is
// signed play/<viewer token>/<id>, the token good for DefaultTTL as
// POST /jobs/:id/playback_tokens answers by default.
func (s *Server) recordingsBase(ctx context.Context, job *jobspec.LiveJob) (string, error) {
	folder, signed, err := s.signedFolder(ctx, job, playback.DefaultTTL)
	if err != nil || signed {
		return folder, err
	}
	return "live/" + job.Id, nil
}

// recordingURLs are the manifests of a recording (clip "") or of a clip of
// it, under base (recordingsBase).
func (s *Server) recordingURLs(base string, rec recording.Info, clip string) []string {
	folder := base + "/" + jobspec.Recordings + "/" + rec.Run
	if clip != "" {
		folder += "/" + recording.ClipsFolder + "/" + clip
	}
	urls := []string{}
	if rec.HLS {
		urls = append(urls, s.originFolder(folder)+recording.HLSMaster)
	}
	if rec.DASH {
		urls = append(urls, s.originFolder(folder)+recording.DASHMaster)
	}
	return urls
}

// deleteRecording deletes one recording; the origin removes its files at
// its next sweep. The recording a running job is still writing cannot be.
func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	job, err := s.recordedJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	run := ps.ByName("run")
	if job.State.Active() && strings.HasPrefix(run, "g"+strconv.FormatInt(job.Placement_generation, 10)+"p") {
		return jobspec.Errorf(jobspec.ECONFLICT, "recording %s of job %s is still being written; stop the job first", run, job.Id)
	}
	if err := s.cfg.Recordings.DeleteRecording(r.Context(), job.Id, run); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clipRequest is the body of POST /jobs/:id/clips. Start and End are each
// an RFC 3339 program date-time or a number of seconds back from the live
// edge (the end of the newest recording's last segment).
type clipRequest struct {
	Start     json.RawMessage `json:"Start"`
	End       json.RawMessage `json:"End"`
	Recording string          `json:"Recording"`
}

// clipView is the answer of POST /jobs/:id/clips.
type clipView struct {
	Recording     string    `json:"Recording"`
	Start         time.Time `json:"Start"` // as asked, resolved to program date-times
	End           time.Time `json:"End"`
	Cut           string    `json:"Cut"`
	Playback_urls []string  `json:"Playback_urls"`
}

// clipCut says where a clip is cut.
const clipCut = "at the segment boundaries around Start and End: the clip starts at the beginning of the segment Start falls in and ends at the end of the segment End falls in"

// createClip answers the playback URLs of a clip at once: the origin cuts
// it from the recording's index when a player reads it (no re-encode).
func (s *Server) createClip(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	job, err := s.recordedJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req clipRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return jobspec.Errorf(jobspec.EINVALID, `the body must be a JSON object such as {"Start": 30, "End": 0}: %v`, err)
	}
	recs, err := s.cfg.Recordings.Recordings(r.Context(), job.Id)
	if err != nil {
		return err
	}
	rec, start, end, err := resolveClip(req, recs)
	if err != nil {
		return err
	}
	base, err := s.recordingsBase(r.Context(), job)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, clipView{Recording: rec.Run, Start: start, End: end, Cut: clipCut,
		Playback_urls: s.recordingURLs(base, rec, recording.ClipName(start, end))})
}

// resolveClip picks the recording and the span of a clip request; every
// bad field is named.
func resolveClip(req clipRequest, recs []recording.Info) (recording.Info, time.Time, time.Time, error) {
	var bad []jobspec.FieldError
	var rec recording.Info
	switch {
	case req.Recording != "":
		found := false
		for _, c := range recs {
			if c.Run == req.Recording {
				rec, found = c, true
			}
		}
		if !found {
			bad = append(bad, jobspec.FieldError{Field: "Recording", Message: fmt.Sprintf("the job has no recording %q", req.Recording)})
		}
	case len(recs) > 0:
		rec = recs[len(recs)-1] // the newest: a live job's current run
	default:
		bad = append(bad, jobspec.FieldError{Field: "Recording", Message: "the job has no recording yet"})
	}
	_, edge := rec.Span()
	start, startErr := clipTime(req.Start, edge)
	end, endErr := clipTime(req.End, edge)
	for _, f := range []struct {
		name string
		err  error
	}{{"Start", startErr}, {"End", endErr}} {
		if f.err != nil {
			bad = append(bad, jobspec.FieldError{Field: f.name, Message: f.err.Error()})
		}
	}
	if len(bad) == 0 {
		first, last := rec.Span()
		switch {
		case !end.After(start):
			bad = append(bad, jobspec.FieldError{Field: "End", Message: fmt.Sprintf("must come after Start (%s), got %s", start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))})
		case !start.Before(last) || !end.After(first):
			bad = append(bad, jobspec.FieldError{Field: "Start", Message: fmt.Sprintf("the clip [%s, %s) is outside recording %s [%s, %s)",
				start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano), rec.Run, first.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))})
		}
	}
	if len(bad) > 0 {
		return rec, start, end, &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid clip", Fields: bad}
	}
	return rec, start, end, nil
}

// clipTime reads an RFC 3339 date-time, or seconds back from edge.
func clipTime(raw json.RawMessage, edge time.Time) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, fmt.Errorf("is required: an RFC 3339 program date-time, or seconds back from the live edge")
	}
	var seconds float64
	if err := json.Unmarshal(raw, &seconds); err == nil {
		if seconds < 0 || seconds > 30*24*3600 {
			return time.Time{}, fmt.Errorf("must be between 0 and 2592000 seconds back from the live edge, got %s", raw)
		}
		return edge.Add(-time.Duration(seconds * float64(time.Second))).Truncate(time.Millisecond), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 date-time or a number of seconds, got %s", raw)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date-time", s)
	}
	return t.UTC().Truncate(time.Millisecond), nil
}
