package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/playback"
)

// PlaybackTokens issues viewer tokens (playback.Signer does).
type PlaybackTokens interface {
	Issue(ctx context.Context, jobID string, ttl time.Duration) (string, time.Time, error)
}

var _ PlaybackTokens = (*playback.Signer)(nil)

// playbackToken is the answer of POST /jobs/:id/playback_tokens.
type playbackToken struct {
	Token         string    `json:"Token"`
	Expires       time.Time `json:"Expires"`
	Playback_url  string    `json:"Playback_url"`
	Playback_urls []string  `json:"Playback_urls"`
	Thumbnail_url string    `json:"Thumbnail_url,omitempty"`
}

// issuePlaybackToken answers a viewer token for the job, good for the
// body's Ttl seconds (optional; playback.DefaultTTL), with the job's
// playback URLs that carry it (the origin's /play/<token>/<job id>/).
func (s *Server) issuePlaybackToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	ttl, err := parseTokenRequest(body)
	if err != nil {
		return err
	}
	job, err := s.lookupJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	tok, expires, err := s.cfg.Playback.Issue(r.Context(), job.Id, ttl)
	if err != nil {
		return err
	}
	folder := tokenFolder(tok, job.Id)
	urls := s.playbackURLs(job.Spec, folder)
	return writeJSON(w, http.StatusCreated, playbackToken{Token: tok, Expires: expires.UTC(), Playback_url: first(urls),
		Playback_urls: urls, Thumbnail_url: s.thumbnailURL(job.Spec, folder)})
}

// tokenFolder is the folder of a job's outputs at the origin under viewer
// token tok.
func tokenFolder(tok, jobID string) string { return "play/" + tok + "/" + jobID }

// signedFolder is, for a job whose playback is signed, the folder of its
// outputs under a new viewer token good for ttl; ok is false for a job
// read under live/ (public, or no token issuer configured).
func (s *Server) signedFolder(ctx context.Context, job *jobspec.LiveJob, ttl time.Duration) (folder string, ok bool, err error) {
	if !jobspec.PlaybackSignedOf(job.Spec) || s.cfg.Playback == nil {
		return "", false, nil
	}
	tok, _, err := s.cfg.Playback.Issue(ctx, job.Id, ttl)
	if err != nil {
		return "", false, err
	}
	return tokenFolder(tok, job.Id), true, nil
}

// parseTokenRequest reads {"Ttl": seconds}; an empty body asks for the
// default lifetime.
func parseTokenRequest(body []byte) (time.Duration, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return playback.DefaultTTL, nil
	}
	var req struct {
		Ttl json.RawMessage `json:"Ttl"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, jobspec.Errorf(jobspec.EINVALID, `the body must be empty or a JSON object such as {"Ttl": 3600}: %v`, err)
	}
	var seconds float64
	if len(req.Ttl) > 0 && string(req.Ttl) != "null" {
		if err := json.Unmarshal(req.Ttl, &seconds); err != nil {
			seconds = -1
		}
	}
	ttl, err := playback.CheckTTL(seconds)
	if err != nil {
		return 0, &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid playback token request",
			Fields: []jobspec.FieldError{{Field: "Ttl", Message: err.Error()}}}
	}
	return ttl, nil
}

// playbackURLs are the job's manifest URLs under <origin>/<folder>/.
func (s *Server) playbackURLs(spec jobspec.Spec, folder string) []string {
	base := s.originFolder(folder)
	var urls []string
	for _, name := range jobspec.ManifestNames(spec) {
		urls = append(urls, base+name)
	}
	return urls
}

// thumbnailURL is the job's thumbnail under <origin>/<folder>/; "" for a
// job that has none.
func (s *Server) thumbnailURL(spec jobspec.Spec, folder string) string {
	if !jobspec.HasThumbnail(spec.Output) {
		return ""
	}
	return s.originFolder(folder) + jobspec.Thumbnail
}

// originFolder is the URL of folder at the origin, ending in '/'.
func (s *Server) originFolder(folder string) string {
	return strings.TrimSuffix(s.cfg.PlaybackBaseURL, "/") + "/" + folder + "/"
}

func first(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return urls[0]
}
