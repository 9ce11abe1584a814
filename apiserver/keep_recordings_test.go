package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/store"
)

// keepEnv is an API and a real origin on one Redis: the origin records
// what a test uploads as a transcoder would, serves it under the viewers
// policy, and sweeps deleted jobs.
type keepEnv struct {
	*env
	origin  *httptest.Server
	sweeper *origin.Sweeper
	list    func(prefix string) []string // the origin's stored files under prefix, sorted
}

func newKeepEnv(t *testing.T, backend string) *keepEnv {
	t.Helper()
	var org http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { org.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	e := newEnv(t, func(c *apiserver.Config) { c.PlaybackBaseURL = ts.URL + "/" })
	root := filepath.Join(t.TempDir(), "origin")
	cfg := origin.Config{Root: root, Logger: slog.New(slog.DiscardHandler), Recordings: e.store,
		Authorizer: origin.AuthorizerFunc(func(context.Context, string, string) error { return nil }),
		Viewers:    playback.NewGuard(e.signer, e.store)}
	list := func(prefix string) []string { return filesUnder(t, root, prefix) }
	if backend == "s3" {
		client, err := origin.NewS3Client(t.Context(), origin.S3ClientConfig{Region: fauxqstest.Region, Endpoint: fauxqstest.StartS3(t, "outputs"),
			Credentials: credentials.NewStaticCredentialsProvider(fauxqstest.AccessKey, fauxqstest.SecretKey, "")})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Storage = origin.NewS3Storage(client, "outputs", "outputs")
		list = func(prefix string) []string {
			files, err := cfg.Storage.List(t.Context(), prefix)
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, f := range files {
				names = append(names, f.Name)
			}
			slices.Sort(names)
			return append(names, filesUnder(t, root, prefix)...) // and nothing left in the spool
		}
	}
	srv, err := origin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	org = srv
	w, err := srv.NewSweeper(origin.SweeperConfig{Retention: e.store, Recordings: e.store, MinAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return &keepEnv{env: e, origin: ts, sweeper: w, list: list}
}

// filesUnder lists the files under root/prefix, sorted, as "<prefix>…".
func filesUnder(t *testing.T, root, prefix string) []string {
	t.Helper()
	names := []string{}
	err := filepath.WalkDir(filepath.Join(root, prefix), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// record uploads two runs of a stopped job as its transcoder would: each
// a live playlist of one segment (the origin records both), and the
// job's live master playlist.
func (k *keepEnv) record(job *jobspec.LiveJob) {
	k.t.Helper()
	k.upload(job.Id, "master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nv.m3u8\n")
	for i, run := range []string{"g1p0", "g2p0"} {
		k.upload(job.Id, "v-"+run+"-1.ts", "segment of "+run)
		k.upload(job.Id, "v.m3u8", fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n"+
			"#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T06:0%d:00.000+0000\nv-%s-1.ts\n", i, run))
	}
}

func (k *keepEnv) upload(id, name, body string) {
	k.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, k.origin.URL+"/live/"+id+"/"+name, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer T")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		k.t.Fatalf("PUT %s of %s: %d", name, id, resp.StatusCode)
	}
}

// play reads url, and resolves the first URI of what it reads against it
// and reads that, down to a segment; it returns the segment.
func (k *keepEnv) play(u string) string {
	k.t.Helper()
	for range 3 {
		body := k.fetch(u)
		if !strings.HasPrefix(body, "#EXTM3U") {
			return body
		}
		next := ""
		for _, line := range strings.Split(body, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				next = line
				break
			}
		}
		base, _ := url.Parse(u)
		ref, _ := url.Parse(next)
		u = base.ResolveReference(ref).String()
	}
	k.t.Fatalf("no segment reached from %s", u)
	return ""
}

func (k *keepEnv) fetch(u string) string {
	k.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		k.t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

func (k *keepEnv) sweep() {
	k.t.Helper()
	if _, err := k.sweeper.Sweep(ctxT(k.t)); err != nil {
		k.t.Fatal(err)
	}
}

// recordingsOf lists a job's recordings through the API.
func (k *keepEnv) recordingsOf(id string) []recordingOut {
	k.t.Helper()
	var list struct{ Recordings []recordingOut }
	if err := json.Unmarshal(k.do("GET", "/jobs/"+id+"/recordings", nil).want(k.t, http.StatusOK).body, &list); err != nil {
		k.t.Fatal(err)
	}
	return list.Recordings
}

type recordingOut struct {
	Run           string
	Playback_urls []string
}

// runFiles are the stored files of one recorded run of record's.
func runFiles(id, run string) []string {
	return []string{id + "/recordings/" + run + "/info.json", id + "/recordings/" + run + "/master.m3u8",
		id + "/recordings/" + run + "/v.m3u8", id + "/v-" + run + "-1.ts"}
}

// TestDeleteKeepingRecordings: a job deleted with keep_recordings=true is
// gone, but its recordings are listed, played (under the job's playback
// policy), clipped and deleted as before, and the origin keeps their
// files only; deleting the last leaves nothing of the job. Deleting
// without it leaves nothing at once, and a bad value deletes nothing.
func TestDeleteKeepingRecordings(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"fs", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			k := newKeepEnv(t, backend)
			public, signed, dropped := k.putJob(jobspec.StateStopped), k.createSigned(), k.putJob(jobspec.StateStopped)
			if _, err := k.store.UpdateJob(ctxT(t), signed.Id, func(j *jobspec.LiveJob) error {
				j.SetState(jobspec.StateStopped, "set by test", time.Now())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, j := range []*jobspec.LiveJob{public, signed, dropped} {
				k.record(j)
			}

			// A bad value deletes nothing.
			p := k.do("DELETE", "/jobs/"+public.Id+"?keep_recordings=yes", nil).want(t, http.StatusBadRequest).problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != "keep_recordings" {
				t.Errorf("400 names %+v, want keep_recordings", p.Errors)
			}
			if j := k.do("GET", "/jobs/"+public.Id, nil).want(t, http.StatusOK).job(t); j.State != jobspec.StateStopped {
				t.Errorf("after a bad DELETE the job is %s", j.State)
			}

			for _, j := range []*jobspec.LiveJob{public, signed} {
				deleted, kept, err := k.client.DeleteKeepingRecordings(ctxT(t), j.Id)
				if err != nil || deleted.State != jobspec.StateDeleting || !deleted.Keep_recordings ||
					len(kept) != 2 || kept[0].Run != "g1p0" || len(kept[0].Playback_urls) != 1 {
					t.Fatalf("DELETE keeping recordings answered %+v, %+v (%v)", deleted, kept, err)
				}
			}
			k.do("DELETE", "/jobs/"+dropped.Id, nil).want(t, http.StatusAccepted)
			for _, j := range []*jobspec.LiveJob{public, signed, dropped} {
				if err := k.store.DeleteJob(ctxT(t), j.Id); err != nil { // as the scheduler does
					t.Fatal(err)
				}
			}
			k.sweep()

			for _, j := range []*jobspec.LiveJob{public, signed} {
				k.do("GET", "/jobs/"+j.Id, nil).want(t, http.StatusNotFound)
				if got, want := k.list(j.Id+"/"), slices.Sorted(slices.Values(slices.Concat(runFiles(j.Id, "g1p0"), runFiles(j.Id, "g2p0")))); !slices.Equal(got, want) {
					t.Errorf("after the sweep the origin holds %v, want %v", got, want)
				}
				recs := k.recordingsOf(j.Id)
				if len(recs) != 2 {
					t.Fatalf("recordings of the deleted job: %+v", recs)
				}
				for i, rec := range recs {
					if got := k.play(rec.Playback_urls[0]); got != "segment of "+rec.Run {
						t.Errorf("recording %s plays %q", rec.Run, got)
					}
					// Its URLs follow the job's policy: a signed job's carry a token.
					if signedURL := strings.Contains(rec.Playback_urls[0], "/play/"); signedURL != (j == signed) {
						t.Errorf("recording %d of %s at %s", i, j.Id, rec.Playback_urls[0])
					}
				}
				var clip struct{ Playback_urls []string }
				a := k.do("POST", "/jobs/"+j.Id+"/clips", []byte(`{"Recording": "g1p0", "Start": 2, "End": 0}`)).want(t, http.StatusCreated)
				if err := json.Unmarshal(a.body, &clip); err != nil || len(clip.Playback_urls) != 1 || k.play(clip.Playback_urls[0]) != "segment of g1p0" {
					t.Errorf("clip of a kept recording: %s (%v)", a.body, err)
				}
			}
			// Under live/, a signed job's recordings are not served.
			if resp, err := http.Get(k.origin.URL + "/live/" + signed.Id + "/recordings/g1p0/v.m3u8"); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Errorf("signed kept recording under live/: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}

			k.do("DELETE", "/jobs/"+public.Id+"/recordings/g1p0", nil).want(t, http.StatusNoContent)
			k.sweep()
			if got, want := k.list(public.Id+"/"), runFiles(public.Id, "g2p0"); !slices.Equal(got, want) {
				t.Errorf("after deleting g1p0 the origin holds %v, want %v", got, want)
			}
			k.do("DELETE", "/jobs/"+public.Id+"/recordings/g2p0", nil).want(t, http.StatusNoContent)
			k.sweep()
			for _, id := range []string{public.Id, dropped.Id} {
				if got := k.list(id + "/"); len(got) != 0 {
					t.Errorf("the origin still holds %v", got)
				}
				k.do("GET", "/jobs/"+id+"/recordings", nil).want(t, http.StatusNotFound)
				if n := k.rdb.Exists(ctxT(t), "recordings:"+id).Val(); n != 0 {
					t.Errorf("the recordings of %s are still on record", id)
				}
			}
			kept := k.rdb.HKeys(ctxT(t), store.KeyKeptRecordings).Val()
			if !slices.Equal(kept, []string{signed.Id}) {
				t.Errorf("kept jobs %v, want only %s", kept, signed.Id)
			}
		})
	}
}
