package apiserver_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
)

func TestCreateJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.do("POST", "/jobs", sampleSpec(t), "Content-Type: application/json").want(t, http.StatusCreated)
	job := a.job(t)

	id, err := uuid.Parse(job.Id)
	if err != nil || id.Version() != 7 {
		t.Fatalf("Id %q is not a UUIDv7 (%v)", job.Id, err)
	}
	if got := a.header.Get("Location"); got != "/jobs/"+job.Id {
		t.Errorf("Location %q", got)
	}
	if job.State != jobspec.StateCreated || job.State_reason != "created by API" {
		t.Errorf("State %q (%q), want created by API", job.State, job.State_reason)
	}
	if len(job.StreamKey) < 26 || url.PathEscape(job.StreamKey) != job.StreamKey {
		t.Errorf("StreamKey %q: want 128 random bits, URL-safe", job.StreamKey)
	}
	if job.RtmpIngestUrl != "" {
		t.Errorf("RtmpIngestUrl %q before placement", job.RtmpIngestUrl)
	}
	spec, _, err := jobspec.Parse(sampleSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	names := jobspec.ManifestNames(spec)
	if want := playbackBase + "/live/" + job.Id + "/" + names[0]; job.Playback_url != want {
		t.Errorf("Playback_url %q, want %q", job.Playback_url, want)
	}
	if len(job.Playback_urls) != len(names) {
		t.Errorf("Playback_urls %q, want one per manifest %q", job.Playback_urls, names)
	}
	if !reflect.DeepEqual(job.Spec, spec) {
		t.Errorf("Spec %+v, want the parsed spec %+v", job.Spec, spec)
	}
	if job.Time_created.IsZero() || job.Job_validation_warnings == nil {
		t.Errorf("Time_created %v, Job_validation_warnings %v", job.Time_created, job.Job_validation_warnings)
	}
	if !strings.Contains(string(a.body), `"Job_validation_warnings":[]`) {
		t.Errorf("warnings not an array in %s", a.body)
	}

	stored, err := e.client.Get(ctxT(t), job.Id)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Id != job.Id || stored.StreamKey != job.StreamKey || !reflect.DeepEqual(stored.Spec, job.Spec) {
		t.Errorf("GET answers %+v, created %+v", stored, job)
	}
	if got := e.commands(); len(got) != 1 || got[0].Verb != queue.Create || got[0].JobID != job.Id {
		t.Errorf("commands %+v, want one create of %s", got, job.Id)
	}
}

func TestCreateJobWarnings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var body map[string]any
	json.Unmarshal(sampleSpec(t), &body)
	body["Unknown_key"] = 1
	job := e.do("POST", "/jobs", jsonBody(t, body)).want(t, http.StatusCreated).job(t)
	if len(job.Job_validation_warnings) == 0 || !strings.Contains(strings.Join(job.Job_validation_warnings, " "), "Unknown_key") {
		t.Errorf("warnings %q do not name Unknown_key", job.Job_validation_warnings)
	}
}

// TestCreateInvalid checks that a 400 names every bad field and that nothing
// reaches Redis or the queue.
func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := `{"Output":{"Stream_type":"flv","Segment_format":"fmp4","Segment_duration":4,
		"Video_outputs":[{"Label":"a","Codec":"h264","Framerate":25,"Width":-1,"Height":360,"Bitrate":"abc",
		"Max_bitrate":"500k","Buf_size":"500k","Preset":"faster","Threads":2,"Gop_size":2}],
		"Audio_outputs":[{"Label":"x","Codec":"mp3","Bitrate":"128k"}]}}`
	cases := []struct {
		name, path, body string
		fields           []string
	}{
		{"every bad field", "/jobs?dry_run=maybe", bad, []string{"dry_run", "Output.Stream_type",
			"Output.Video_outputs[0].Width", "Output.Video_outputs[0].Bitrate", "Output.Audio_outputs[0].Codec"}},
		{"not JSON", "/jobs", "nope", nil},
		{"empty", "/jobs", "", nil},
		{"no outputs", "/jobs", "{}", []string{"Output.Video_outputs"}},
	}
	for _, c := range cases {
		p := e.do("POST", c.path, []byte(c.body)).want(t, http.StatusBadRequest).problem(t)
		var got []string
		for _, f := range p.Errors {
			if f.Message == "" {
				t.Errorf("%s: field %s without a message", c.name, f.Field)
			}
			got = append(got, f.Field)
		}
		if !reflect.DeepEqual(got, c.fields) {
			t.Errorf("%s: fields %q, want %q", c.name, got, c.fields)
		}
		if p.Code != jobspec.EINVALID || p.Detail == "" {
			t.Errorf("%s: problem %+v", c.name, p)
		}
	}
	e.wantNothingStored()
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var body map[string]any
	json.Unmarshal(sampleSpec(t), &body)
	body["Api_test"] = 1
	for _, c := range []struct {
		path string
		body []byte
	}{{"/jobs?dry_run=1", sampleSpec(t)}, {"/jobs?dry_run=true", sampleSpec(t)}, {"/jobs", jsonBody(t, body)}} {
		job := e.do("POST", c.path, c.body).want(t, http.StatusOK).job(t)
		if job.Id == "" || job.State != jobspec.StateCreated || job.Playback_url == "" || job.Job_validation_warnings == nil {
			t.Errorf("%s: would-be job %+v", c.path, job)
		}
	}
	job, err := e.client.Create(ctxT(t), sampleSpec(t), true)
	if err != nil || job.Id == "" {
		t.Fatalf("client dry run: %+v, %v", job, err)
	}
	e.wantNothingStored()
}

func TestGetJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	job := e.putJob(jobspec.StateRunning)
	got := e.do("GET", "/jobs/"+job.Id, nil).want(t, http.StatusOK).job(t)
	if got.Id != job.Id || got.State != jobspec.StateRunning {
		t.Errorf("got %+v", got)
	}
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "not-a-uuid"} {
		p := e.do("GET", "/jobs/"+id, nil).want(t, http.StatusNotFound).problem(t)
		if p.Code != jobspec.ENOTFOUND || !strings.Contains(p.Detail, id) {
			t.Errorf("problem %+v does not name %s", p, id)
		}
	}
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if a := e.do("GET", "/jobs", nil).want(t, http.StatusOK); strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("empty list is %s, want []", a.body)
	}
	var ids []string
	for range 7 {
		ids = append(ids, e.putJob(jobspec.StateCreated).Id)
	}

	// Follow the Link headers by hand: 3 + 3 + 1.
	var got []string
	path := "/jobs?limit=3"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than jobs")
		}
		a := e.do("GET", path, nil).want(t, http.StatusOK)
		var jobs []jobspec.LiveJob
		if err := json.Unmarshal(a.body, &jobs); err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 3 && a.header.Get("Link") != "" {
			t.Errorf("page of %d with a next link", len(jobs))
		}
		for _, j := range jobs {
			got = append(got, j.Id)
		}
		path = nextLink(t, a.header.Get("Link"))
		if path != "" && !strings.Contains(path, "limit=3") {
			t.Errorf("next link %q lost the limit", path)
		}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("pages gave %q, want creation order %q", got, ids)
	}

	// The client follows cursors the same way.
	got = nil
	for cursor := ""; ; {
		jobs, next, err := e.client.List(ctxT(t), nil, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			got = append(got, j.Id)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("client pages gave %q, want %q", got, ids)
	}
}

// nextLink returns the target of a rel="next" Link header, "" without one.
func nextLink(t *testing.T, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	target, params, ok := strings.Cut(link, ";")
	if !ok || strings.TrimSpace(params) != `rel="next"` || !strings.HasPrefix(target, "</jobs") {
		t.Fatalf("Link %q", link)
	}
	return strings.Trim(target, "<>")
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.putJob(jobspec.StateCreated)
	running := e.putJob(jobspec.StateRunning)
	streaming := e.putJob(jobspec.StateStreaming)
	stopped := e.putJob(jobspec.StateStopped)
	failed := e.putJob(jobspec.StateFailed)
	deleting := e.putJob(jobspec.StateDeleting)

	ids := func(path string) []string {
		var jobs []jobspec.LiveJob
		a := e.do("GET", path, nil).want(t, http.StatusOK)
		if err := json.Unmarshal(a.body, &jobs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, j.Id)
		}
		return out
	}
	cases := []struct {
		path string
		want []string
	}{
		{"/jobs", []string{created.Id, running.Id, streaming.Id, stopped.Id, failed.Id, deleting.Id}},
		{"/jobs?state=stopped,failed", []string{stopped.Id, failed.Id}},
		{"/jobs?state=streaming&limit=1000", []string{streaming.Id}},
		{"/jobs/active", []string{created.Id, running.Id, streaming.Id}},
		{"/jobs/active?limit=2&cursor=" + created.Id, []string{running.Id, streaming.Id}},
		{"/jobs?state=stopping", nil},
		{"/jobs?state=deleting,failed", []string{failed.Id, deleting.Id}},
	}
	for _, c := range cases {
		if got := ids(c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.path, got, c.want)
		}
	}
	if a := e.do("GET", "/jobs?state=stopping", nil).want(t, http.StatusOK); strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("list with no match is %s, want []", a.body)
	}
	if a := e.do("GET", "/jobs/active?limit=2", nil); !strings.HasPrefix(a.header.Get("Link"), "</jobs/active?cursor=") {
		t.Errorf("active next link %q", a.header.Get("Link"))
	}
	jobs, next, err := e.client.Active(ctxT(t), 2, "")
	if err != nil || len(jobs) != 2 || next == "" {
		t.Errorf("client Active: %d jobs, next %q, %v", len(jobs), next, err)
	}
	// A job being deleted is shown until its record is gone.
	var got jobspec.LiveJob
	if err := json.Unmarshal(e.do("GET", "/jobs/"+deleting.Id, nil).want(t, http.StatusOK).body, &got); err != nil || got.State != jobspec.StateDeleting {
		t.Errorf("GET of a deleting job: state %q (%v)", got.State, err)
	}

	bad := []struct {
		path   string
		fields []string
	}{
		{"/jobs?state=bogus,running,deleted&limit=0", []string{"state", "state", "limit"}},
		{"/jobs?limit=1001", []string{"limit"}},
		{"/jobs?limit=ten", []string{"limit"}},
		{"/jobs/active?state=running", []string{"state"}},
	}
	for _, c := range bad {
		p := e.do("GET", c.path, nil).want(t, http.StatusBadRequest).problem(t)
		var got []string
		for _, f := range p.Errors {
			got = append(got, f.Field)
		}
		if !reflect.DeepEqual(got, c.fields) {
			t.Errorf("%s: fields %q, want %q", c.path, got, c.fields)
		}
		if c.fields[0] == "state" && !strings.Contains(p.Errors[0].Message, "bogus") && !strings.Contains(c.path, "active") {
			t.Errorf("%s: %q does not name the bad state", c.path, p.Errors[0].Message)
		}
	}
	if _, _, err := e.client.List(ctxT(t), []jobspec.State{"bogus"}, 0, ""); !strings.Contains(errString(err), "state: ") {
		t.Errorf("client error %v does not name the field", err)
	}
	if !slices.Contains(jobspec.ManifestNames(created.Spec), strings.TrimPrefix(created.Playback_url, playbackBase+"/live/"+created.Id+"/")) {
		t.Errorf("Playback_url %q", created.Playback_url)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
