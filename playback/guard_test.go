package playback_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/store"
)

var _ origin.Viewers = (*playback.Guard)(nil)

// TestSignedPlayback runs a real origin guarded by a Guard over the real
// store: a signed job's manifest and segments are served only under
// /play/<token>/ with a valid token of that job (its relative segment URL
// resolved against the manifest's URL keeps the token); without one, with
// an expired one or another job's, the origin answers 404 or 403 and never
// the content. A public job plays both ways; an unknown job neither.
func TestSignedPlayback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(redistest.Start(t).Client(t))
	keys := redistest.Start(t).Client(t)
	signer := playback.RedisSigner(keys)
	for id, policy := range map[string]string{"signed1": jobspec.PlaybackSigned, "public1": "", "signed2": jobspec.PlaybackSigned} {
		job := &jobspec.LiveJob{Id: id, Spec: jobspec.Spec{Playback_policy: policy}}
		job.SetStreamKey("key-"+id, "passphrase-"+id)
		if err := st.CreateJob(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	org, err := origin.New(origin.Config{
		Root:       filepath.Join(t.TempDir(), "origin"),
		Authorizer: origin.AuthorizerFunc(func(context.Context, string, string) error { return nil }),
		Viewers:    playback.NewGuard(signer, st),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(org)
	t.Cleanup(func() { srv.Close(); org.Close() })
	const manifest = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nv/seg1.m4s\n"
	for _, id := range []string{"signed1", "public1", "signed2"} {
		put(t, srv.URL+"/live/"+id+"/master.m3u8", manifest)
		put(t, srv.URL+"/live/"+id+"/v/seg1.m4s", "media of "+id)
	}

	tok1, tok2, tokPublic, tokUnknown := issue(t, signer, "signed1"), issue(t, signer, "signed2"), issue(t, signer, "public1"), issue(t, signer, "nosuchjob")
	past := playback.RedisSigner(keys) // the same key, an hour ago
	playback.SetClock(past, func() time.Time { return time.Now().Add(-time.Hour) })
	expired := issue(t, past, "signed1")
	if !past.ValidToken(ctx, expired, "signed1") {
		t.Fatal("the expired token was not valid when issued")
	}

	// A player resolves the segment URL against the manifest's.
	for _, tt := range []struct {
		name, manifest string
		status         int
	}{
		{"signed, token", "/play/" + tok1 + "/signed1/master.m3u8", 200},
		{"signed, no token", "/live/signed1/master.m3u8", 404},
		{"signed, empty token", "/play//signed1/master.m3u8", 403},
		{"signed, other job's token", "/play/" + tok2 + "/signed1/master.m3u8", 403},
		{"signed, expired token", "/play/" + expired + "/signed1/master.m3u8", 403},
		{"signed, forged token", "/play/" + tok1[:len(tok1)-2] + "AA/signed1/master.m3u8", 403},
		{"public, no token", "/live/public1/master.m3u8", 200},
		{"public, token", "/play/" + tokPublic + "/public1/master.m3u8", 200},
		{"unknown job, no token", "/live/nosuchjob/master.m3u8", 404},
		{"unknown job, token", "/play/" + tokUnknown + "/nosuchjob/master.m3u8", 404},
	} {
		segment := tt.manifest[:strings.LastIndexByte(tt.manifest, '/')+1] + "v/seg1.m4s"
		for _, path := range []string{tt.manifest, segment} {
			status, body := get(t, srv.URL+path)
			if status != tt.status {
				t.Errorf("%s: GET %s: %d, want %d", tt.name, path, status, tt.status)
			}
			if status != 200 && (strings.Contains(body, "media of") || strings.Contains(body, "#EXTM3U")) {
				t.Errorf("%s: GET %s refused but served the content: %q", tt.name, path, body)
			}
		}
	}
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer T")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func issue(t *testing.T, s *playback.Signer, job string) string {
	t.Helper()
	tok, _, err := s.Issue(context.Background(), job, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// flakyJobs is a JobSource that fails while down.
type flakyJobs struct {
	jobs map[string]*jobspec.LiveJob
	down bool
}

func (f *flakyJobs) Job(_ context.Context, id string) (*jobspec.LiveJob, error) {
	if f.down {
		return nil, jobspec.Errorf(jobspec.EUNAVAILABLE, "store down")
	}
	if j, ok := f.jobs[id]; ok {
		return j, nil
	}
	return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no job %s", id)
}

func (f *flakyJobs) KeptJob(_ context.Context, id string) (*jobspec.LiveJob, error) {
	return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no job %s", id)
}

// TestGuardStoreDown checks that a policy known before the store went
// down is kept past its cache time while the store cannot answer, and that
// an unknown one is an error, not a guess.
func TestGuardStoreDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer, err := playback.NewSigner(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	playback.SetClock(signer, func() time.Time { return now })
	jobs := &flakyJobs{jobs: map[string]*jobspec.LiveJob{
		"pub": {Id: "pub"}, "sig": {Id: "sig", Spec: jobspec.Spec{Playback_policy: jobspec.PlaybackSigned}},
	}}
	g := playback.NewGuard(signer, jobs)
	for job, want := range map[string]bool{"pub": false, "sig": true, "gone": true} {
		if got, err := g.TokenRequired(ctx, job); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", job, got, err, want)
		}
	}
	// Made-up ids, more than the Guard remembers, push no known policy out.
	for i := range 5000 {
		if got, err := g.TokenRequired(ctx, fmt.Sprintf("made-up-%d", i)); err != nil || !got {
			t.Fatalf("made-up id: %v %v, want a token required", got, err)
		}
	}
	jobs.down = true
	now = now.Add(time.Hour)
	for job, want := range map[string]bool{"pub": false, "sig": true} {
		if got, err := g.TokenRequired(ctx, job); err != nil || got != want {
			t.Errorf("%s with the store down: %v %v, want %v as before", job, got, err, want)
		}
	}
	for _, job := range []string{"never-seen", "gone"} {
		if _, err := g.TokenRequired(ctx, job); err == nil {
			t.Errorf("%s, with the store down: no error (unknown ids are not remembered)", job)
		}
	}
}
