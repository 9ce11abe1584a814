package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/google/uuid"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/drm"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/playback"
	"github.com/ezlivestreaming/ezlive/recording"
)

// contract is openapi.yaml loaded for checking real answers against it. It
// remembers which documented (operation, status) pairs were answered, so
// that a status the server no longer gives, or a route nobody exercises,
// fails the test instead of rotting in the document.
type contract struct {
	doc    *openapi3.T
	router routers.Router

	mu  sync.Mutex
	hit map[string]bool // "GET /jobs/{id} 404"
}

// docServer is the server URL of openapi.yaml: requests are matched against
// the document as if sent there.
const docServer = "http://127.0.0.1:1080"

var registerStreamDecoder sync.Once

func loadContract(t *testing.T) *contract {
	t.Helper()
	registerStreamDecoder.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	})
	doc, err := openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3.1 document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{doc: doc, router: router, hit: map[string]bool{}}
}

// documented lists every (operation, status) pair of the document.
func (c *contract) documented() []string {
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				out = append(out, method+" "+path+" "+status)
			}
		}
	}
	slices.Sort(out)
	return out
}

// wantAllExercised fails t for every documented pair never answered.
func (c *contract) wantAllExercised(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pair := range c.documented() {
		if !c.hit[pair] {
			t.Errorf("openapi.yaml documents %s, but no test request got that answer", pair)
		}
	}
}

func (c *contract) note(method, path string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hit[method+" "+path+" "+strconv.Itoa(status)] = true
}

// call sends a request to e's API, checks the answer has the wanted status,
// and validates the pair against the document: a request meant to succeed
// must itself conform; every answer must be a documented status of its
// operation with the documented headers, content type and body. Answers of
// no route (404, 405) must be documented problems.
func (c *contract) call(t *testing.T, e *env, status int, method, path string, body []byte, headers ...string) answer {
	t.Helper()
	a := e.do(method, path, body, headers...)
	if a.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, a.status, status, a.body)
	}
	c.validate(t, method, path, body, headers, a)
	return a
}

// validate checks one answered request against the document (see call).
func (c *contract) validate(t *testing.T, method, path string, body []byte, headers []string, a answer) {
	t.Helper()
	req := docRequest(t, method, path, body, headers)
	template, ok := c.operation(req)
	if !ok {
		c.unrouted(t, req, a, template)
		return
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil || route.Path != template {
		t.Fatalf("%s %s: the validator finds %v (%v), want %s", method, path, route, err, template)
	}
	c.note(method, route.Path, a.status)
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if a.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request does not conform to openapi.yaml: %v", method, path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 a.status,
		Header:                 a.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s: the %d answer does not conform to openapi.yaml: %v\nbody: %.500s", method, path, a.status, err, a.body)
	}
	resp := route.Operation.Responses.Status(a.status)
	if resp == nil {
		t.Errorf("%s %s: openapi.yaml documents no %d for %s %s", method, path, a.status, method, route.Path)
		return
	}
	if len(resp.Value.Content) == 0 && len(a.body) > 0 && method != http.MethodHead {
		t.Errorf("%s %s: openapi.yaml documents no body for %d, but the answer has one: %.200s", method, path, a.status, a.body)
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), apiserver.ProblemContentType) && method != http.MethodHead {
		c.wantProblem(t, req, a)
	}
}

// operation finds the documented path template of req, preferring
// literal segments to parameters (/jobs/active before /jobs/{id}), and
// whether it documents req's method.
func (c *contract) operation(req *http.Request) (template string, ok bool) {
	segs := strings.Split(req.URL.Path, "/")
	best := -1
	for path := range c.doc.Paths.Map() {
		tsegs := strings.Split(path, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		literal := 0
		for i, ts := range tsegs {
			switch {
			case strings.HasPrefix(ts, "{"):
			case ts == segs[i]:
				literal++
			default:
				literal = -1
			}
			if literal < 0 {
				break
			}
		}
		if literal > best {
			best, template = literal, path
		}
	}
	if template == "" {
		return "", false
	}
	return template, c.doc.Paths.Value(template).GetOperation(req.Method) != nil
}

// unrouted checks an answer to a request the document has no operation
// for: a path it does not know is a 404 problem; a method its path does not
// take is a 405 problem with Allow.
func (c *contract) unrouted(t *testing.T, req *http.Request, a answer, template string) {
	t.Helper()
	want := http.StatusNotFound
	if template != "" {
		want = http.StatusMethodNotAllowed
	}
	if a.status != want {
		t.Errorf("%s %s is not in openapi.yaml (path %q), yet the server answered %d", req.Method, req.URL.Path, template, a.status)
	}
	if a.status == http.StatusMethodNotAllowed && a.header.Get("Allow") == "" {
		t.Errorf("%s %s: 405 without an Allow header", req.Method, req.URL.Path)
	}
	c.note("*", "unrouted", a.status)
	c.wantProblem(t, req, a)
}

// wantProblem validates a problem body against components.schemas.Problem
// and checks it matches the answer.
func (c *contract) wantProblem(t *testing.T, req *http.Request, a answer) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != apiserver.ProblemContentType {
		t.Errorf("%s %s: %d answered as %q, want %s", req.Method, req.URL.Path, a.status, ct, apiserver.ProblemContentType)
		return
	}
	c.wantSchema(t, "Problem", a.body)
	var p apiserver.Problem
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("problem %s: %v", a.body, err)
	}
	if p.Status != a.status || p.Instance != req.URL.Path {
		t.Errorf("%s %s: problem %+v does not match status %d and path", req.Method, req.URL.Path, p, a.status)
	}
}

// wantSchema validates a JSON value against a component schema.
func (c *contract) wantSchema(t *testing.T, name string, raw []byte) {
	t.Helper()
	ref := c.doc.Components.Schemas[name]
	if ref == nil {
		t.Fatalf("openapi.yaml has no schema %s", name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %.200s: %v", name, raw, err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		t.Errorf("%.300s does not conform to schema %s: %v", raw, name, err)
	}
}

// docRequest rebuilds a test request as if sent to the document's server.
func docRequest(t *testing.T, method, path string, body []byte, headers []string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, docServer+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// sseSchemas are the component schemas of each event's data.
var sseSchemas = map[string]string{"state": "StateEvent", "job": "LiveJob", "deleted": "Deleted"}

// stream opens an event stream, reads events until one named until
// arrives, validates the answer and each event's data against the document,
// and hangs up. onEvent, when set, is called after each event.
func (c *contract) stream(t *testing.T, e *env, path, until string, onEvent func(name string), headers ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	var raw bytes.Buffer
	var names []string
	var name string
	sc := bufio.NewScanner(io.TeeReader(resp.Body, &raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			schema, ok := sseSchemas[name]
			if !ok {
				t.Errorf("GET %s: event %q is not documented", path, name)
				continue
			}
			c.wantSchema(t, schema, []byte(strings.TrimPrefix(line, "data: ")))
			names = append(names, name)
			if onEvent != nil {
				onEvent(name)
			}
		case line == "" && name == until:
			cancel()
			c.validate(t, "GET", path, nil, headers, answer{resp.StatusCode, resp.Header, raw.Bytes()})
			return names
		}
	}
	t.Fatalf("GET %s: the stream ended before an %q event (%v); read %s", path, until, sc.Err(), raw.Bytes())
	return nil
}

// TestOpenAPIConformance checks the server's real answers on every route,
// success and failure, against openapi.yaml, and that every documented
// (operation, status) pair was answered at least once.
func TestOpenAPIConformance(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	t.Run("jobs", func(t *testing.T) { t.Parallel(); conformJobs(t, c) })
	t.Run("transitions", func(t *testing.T) { t.Parallel(); conformTransitions(t, c) })
	t.Run("events", func(t *testing.T) { t.Parallel(); conformEvents(t, c) })
	t.Run("feed", func(t *testing.T) { t.Parallel(); conformFeed(t, c) })
	t.Run("drm", func(t *testing.T) { t.Parallel(); conformDRM(t, c) })
	t.Run("playback tokens", func(t *testing.T) { t.Parallel(); conformPlaybackTokens(t, c) })
	t.Run("token", func(t *testing.T) { t.Parallel(); conformToken(t, c) })
	t.Run("redis down", func(t *testing.T) { t.Parallel(); conformRedisDown(t, c) })
	t.Run("open routes", func(t *testing.T) { t.Parallel(); conformOpen(t, c) })
	t.Run("limits", func(t *testing.T) { t.Parallel(); conformLimits(t, c) })
	t.Run("recordings", func(t *testing.T) { t.Parallel(); conformRecordings(t, c) })
	t.Cleanup(func() {
		if !t.Failed() {
			c.wantAllExercised(t)
		}
	})
}

// wantFields fails unless the 400 problem names each field.
func wantFields(t *testing.T, a answer, fields ...string) {
	t.Helper()
	p := a.problem(t)
	for _, f := range fields {
		if !slices.ContainsFunc(p.Errors, func(fe jobspec.FieldError) bool { return fe.Field == f }) {
			t.Errorf("400 %+v does not name %s", p, f)
		}
	}
}

func conformJobs(t *testing.T, c *contract) {
	e := newEnv(t)
	spec := sampleSpec(t)
	job := c.call(t, e, http.StatusCreated, "POST", "/jobs", spec).job(t)
	if len(e.commands()) != 1 {
		t.Errorf("create sent no command")
	}
	c.call(t, e, http.StatusOK, "GET", "/jobs/"+job.Id, nil)
	// Every field of the record, even those left out when empty, must be
	// documented: set them all and read the job back.
	if _, err := e.store.UpdateJob(ctxT(t), job.Id, func(j *jobspec.LiveJob) error {
		fillZeroFields(reflect.ValueOf(j).Elem())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.call(t, e, http.StatusOK, "GET", "/jobs/"+job.Id, nil)
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/"+uuid.NewString(), nil)
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/not-a-job-id", nil)

	// Dry runs: by query and by the original's Api_test flag.
	c.call(t, e, http.StatusOK, "POST", "/jobs?dry_run=1", spec)
	dry := strings.Replace(string(spec), `"Output"`, `"Api_test": 1, "Output"`, 1)
	c.call(t, e, http.StatusOK, "POST", "/jobs", []byte(dry))
	// Lenient input: numbers for bitrates, an unknown key (a warning).
	lenient := strings.Replace(string(spec), `"Bitrate": "365k"`, `"Bitrate": 365000, "Unknown_key": 1`, 1)
	if j := c.call(t, e, http.StatusOK, "POST", "/jobs?dry_run=true", []byte(lenient)).job(t); len(j.Job_validation_warnings) == 0 {
		t.Errorf("no warning for an unknown key: %+v", j)
	}

	bad := strings.Replace(string(spec), `"Width": 640`, `"Width": "640"`, 1)
	bad = strings.Replace(bad, `"Codec": "aac"`, `"Codec": "mp3"`, 1)
	a := c.call(t, e, http.StatusBadRequest, "POST", "/jobs?dry_run=maybe", []byte(bad))
	wantFields(t, a, "dry_run", "Output.Video_outputs[0].Width", "Output.Audio_outputs[0].Codec")
	c.call(t, e, http.StatusBadRequest, "POST", "/jobs", []byte(`[1, 2]`))
	c.call(t, e, http.StatusBadRequest, "POST", "/jobs", []byte(`{"Output": `))
	huge := append([]byte(`{"Output": {"Stream_type": "`), bytes.Repeat([]byte("x"), apiserver.MaxBodyBytes)...)
	c.call(t, e, http.StatusRequestEntityTooLarge, "POST", "/jobs", append(huge, `"}}`...))

	// Paging: three jobs, two per page, each page linking to the next.
	c.call(t, e, http.StatusCreated, "POST", "/jobs", spec)
	c.call(t, e, http.StatusCreated, "POST", "/jobs", spec)
	e.commands()
	first := c.call(t, e, http.StatusOK, "GET", "/jobs?limit=2&state=created", nil)
	next := linkNext(t, first)
	last := c.call(t, e, http.StatusOK, "GET", next, nil)
	if last.header.Get("Link") != "" || len(jobsOf(t, first))+len(jobsOf(t, last)) != 3 {
		t.Errorf("pages %s and %s, want three jobs and no further link", first.body, last.body)
	}
	a = c.call(t, e, http.StatusBadRequest, "GET", "/jobs?state=created,bogus&limit=0", nil)
	wantFields(t, a, "state", "limit")

	active := c.call(t, e, http.StatusOK, "GET", "/jobs/active?limit=2", nil)
	c.call(t, e, http.StatusOK, "GET", linkNext(t, active), nil)
	wantFields(t, c.call(t, e, http.StatusBadRequest, "GET", "/jobs/active?state=created&limit=x", nil), "state", "limit")

	// No route and wrong method are problems too.
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/"+job.Id+"/nothing", nil)
	c.call(t, e, http.StatusMethodNotAllowed, "PATCH", "/jobs/"+job.Id, []byte(`{}`))
	c.call(t, e, http.StatusMethodNotAllowed, "DELETE", "/jobs", nil)
}

// fillZeroFields gives every zero top-level field of a record a value its
// type allows, so that no field hides behind omitempty.
func fillZeroFields(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.IsZero() {
			continue
		}
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(time.Now().UTC()))
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.CanInt():
			f.SetInt(1)
		case f.Kind() == reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"x"}).Convert(f.Type()))
		}
	}
}

func linkNext(t *testing.T, a answer) string {
	t.Helper()
	link := a.header.Get("Link")
	target, ok := strings.CutSuffix(link, `>; rel="next"`)
	if !ok || !strings.HasPrefix(target, "</") {
		t.Fatalf("Link %q, want <...>; rel=\"next\"", link)
	}
	return target[1:]
}

func jobsOf(t *testing.T, a answer) []jobspec.LiveJob {
	t.Helper()
	var jobs []jobspec.LiveJob
	if err := json.Unmarshal(a.body, &jobs); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func conformTransitions(t *testing.T, c *contract) {
	e := newEnv(t)
	running := e.putJob(jobspec.StateRunning)
	missing := "/jobs/" + uuid.NewString()
	for _, verb := range []string{"/stop", "/resume"} {
		c.call(t, e, http.StatusNotFound, "PUT", missing+verb, nil)
	}
	c.call(t, e, http.StatusNotFound, "DELETE", missing, nil)
	c.call(t, e, http.StatusNotFound, "POST", missing+"/stream_key", nil)
	c.call(t, e, http.StatusNotFound, "GET", missing+"/thumbnail.jpg", nil)
	if a := c.call(t, e, http.StatusTemporaryRedirect, "GET", "/jobs/"+running.Id+"/thumbnail.jpg", nil); a.header.Get("Location") != running.Thumbnail_url || running.Thumbnail_url == "" {
		t.Errorf("thumbnail redirects to %q, want the record's Thumbnail_url %q", a.header.Get("Location"), running.Thumbnail_url)
	}
	if j := c.call(t, e, http.StatusOK, "POST", "/jobs/"+running.Id+"/stream_key", nil).job(t); j.StreamKey == running.StreamKey {
		t.Errorf("stream key not rotated: %+v", j)
	}

	wantState := func(a answer, st jobspec.State) {
		t.Helper()
		if p := a.problem(t); p.State != st || p.Code != jobspec.ECONFLICT {
			t.Errorf("409 %+v does not name state %s", p, st)
		}
	}
	wantState(c.call(t, e, http.StatusConflict, "PUT", "/jobs/"+running.Id+"/resume", nil), jobspec.StateRunning)
	wantState(c.call(t, e, http.StatusConflict, "DELETE", "/jobs/"+running.Id, nil), jobspec.StateRunning)
	c.call(t, e, http.StatusAccepted, "PUT", "/jobs/"+running.Id+"/stop", nil)
	c.call(t, e, http.StatusAccepted, "PUT", "/jobs/"+running.Id+"/stop", nil) // again while stopping

	stopped := e.putJob(jobspec.StateStopped)
	wantState(c.call(t, e, http.StatusConflict, "PUT", "/jobs/"+stopped.Id+"/stop", nil), jobspec.StateStopped)
	c.call(t, e, http.StatusAccepted, "PUT", "/jobs/"+stopped.Id+"/resume", nil)
	failed := e.putJob(jobspec.StateFailed)
	wantFields(t, c.call(t, e, http.StatusBadRequest, "DELETE", "/jobs/"+failed.Id+"?keep_recordings=maybe", nil), "keep_recordings")
	keeping := e.putJob(jobspec.StateFailed)
	if err := e.store.SaveRecording(ctxT(t), keeping.Id, recording.Info{Run: "g1p0", Started: time.Now(), HLS: true}); err != nil {
		t.Fatal(err)
	}
	var kept struct{ Kept_recordings []struct{ Run string } }
	if err := json.Unmarshal(c.call(t, e, http.StatusAccepted, "DELETE", "/jobs/"+keeping.Id+"?keep_recordings=true", nil).body, &kept); err != nil ||
		len(kept.Kept_recordings) != 1 || kept.Kept_recordings[0].Run != "g1p0" {
		t.Errorf("DELETE keeping recordings: %+v (%v)", kept, err)
	}
	if err := e.store.DeleteJob(ctxT(t), keeping.Id); err != nil { // as the scheduler does
		t.Fatal(err)
	}
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/"+keeping.Id, nil)
	c.call(t, e, http.StatusOK, "GET", "/jobs/"+keeping.Id+"/recordings", nil)
	c.call(t, e, http.StatusAccepted, "DELETE", "/jobs/"+failed.Id, nil)
	c.call(t, e, http.StatusAccepted, "DELETE", "/jobs/"+failed.Id, nil) // again while deleting
	if j := c.call(t, e, http.StatusOK, "GET", "/jobs/"+failed.Id, nil).job(t); j.State != jobspec.StateDeleting {
		t.Errorf("GET of a deleting job: state %s", j.State)
	}
	if jobs := jobsOf(t, c.call(t, e, http.StatusOK, "GET", "/jobs?state=deleting", nil)); len(jobs) != 1 || jobs[0].Id != failed.Id {
		t.Errorf("?state=deleting listed %+v", jobs)
	}
	wantState(c.call(t, e, http.StatusConflict, "POST", "/jobs/"+failed.Id+"/stream_key", nil), jobspec.StateDeleting)
	if err := e.store.DeleteJob(ctxT(t), failed.Id); err != nil {
		t.Fatal(err)
	}
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/"+failed.Id, nil)
}

func conformEvents(t *testing.T, c *contract) {
	e := newEnv(t)
	job := e.putJob(jobspec.StateRunning)
	e.putJob(jobspec.StateStopped)
	var hist []jobspec.Event
	if err := json.Unmarshal(c.call(t, e, http.StatusOK, "GET", "/jobs/"+job.Id+"/events", nil).body, &hist); err != nil || len(hist) != 2 {
		t.Errorf("history %+v (%v), want created and running", hist, err)
	}
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/"+uuid.NewString()+"/events", nil)
	wantFields(t, c.call(t, e, http.StatusBadRequest, "GET", "/jobs/"+job.Id+"/events?stream=yes", nil), "stream")

	page := c.call(t, e, http.StatusOK, "GET", "/events?limit=1", nil)
	c.call(t, e, http.StatusOK, "GET", linkNext(t, page), nil)
	wantFields(t, c.call(t, e, http.StatusBadRequest, "GET", "/events?limit=0", nil), "limit")
	wantFields(t, c.call(t, e, http.StatusBadRequest, "GET", "/events?after=yesterday", nil), "after")
	wantFields(t, c.call(t, e, http.StatusBadRequest, "GET", "/events?stream=2", nil), "stream")

	got := c.stream(t, e, "/jobs/"+job.Id+"/events", "job", nil, "Accept: text/event-stream")
	if !slices.Equal(got, []string{"state", "state", "job"}) {
		t.Errorf("job stream sent %v, want the history and the record", got)
	}
	c.stream(t, e, "/events?stream=1", "job", nil)

	// A job removed under its stream: the stream says so and ends.
	gone := e.putJob(jobspec.StateStopped)
	removeOnce := sync.OnceFunc(func() {
		if err := e.store.DeleteJob(ctxT(t), gone.Id); err != nil {
			t.Error(err)
		}
	})
	got = c.stream(t, e, "/jobs/"+gone.Id+"/events?stream=1", "deleted", func(name string) {
		if name == "job" {
			removeOnce()
		}
	})
	if got[len(got)-1] != "deleted" {
		t.Errorf("stream of a removed job sent %v", got)
	}
}

func conformFeed(t *testing.T, c *contract) {
	e := newEnv(t, func(cfg *apiserver.Config) { cfg.Feed = &fakeFeed{running: map[string]bool{}} })
	created := e.putJob(jobspec.StateCreated)
	feed := "/jobs/" + created.Id + "/feed"
	if p := c.call(t, e, http.StatusConflict, "POST", feed, nil).problem(t); p.State != jobspec.StateCreated {
		t.Errorf("409 %+v does not name the state", p)
	}
	placed, err := e.store.UpdateJob(ctxT(t), created.Id, func(j *jobspec.LiveJob) error {
		j.SetIngestAddr("127.0.0.1:1935")
		j.SetState(jobspec.StateRunning, "placed by test", time.Now().UTC())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.call(t, e, http.StatusAccepted, "POST", feed, nil)
	var st struct{ Running bool }
	if json.Unmarshal(c.call(t, e, http.StatusOK, "GET", feed, nil).body, &st); !st.Running {
		t.Errorf("feed of %s not running after start", placed.Id)
	}
	c.call(t, e, http.StatusNoContent, "DELETE", feed, nil)
	missing := "/jobs/" + uuid.NewString() + "/feed"
	c.call(t, e, http.StatusNotFound, "POST", missing, nil)
	c.call(t, e, http.StatusNotFound, "GET", "/jobs/not-a-job/feed", nil)
	c.call(t, e, http.StatusNotFound, "DELETE", "/jobs/not-a-job/feed", nil)
}

// conformDRM runs the real license endpoints (drm.License on the test's
// Redis): every answer must conform, no refusal and no log line may carry
// the key, and a 400 must name what is wrong with the request.
func conformDRM(t *testing.T, c *contract) {
	signer, err := playback.NewSigner(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	license := &drm.License{Viewers: signer}
	var log testenv.Buffer
	e := newEnv(t, func(cfg *apiserver.Config) {
		cfg.DRM = license
		cfg.Playback = signer
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	keys := drm.NewKeyService(e.rdb, nil)
	license.Keys = keys
	ctx := ctxT(t)
	open, closed, unknown := uuid.NewString(), uuid.NewString(), uuid.NewString()
	viewer := func(id string) string {
		tok, _, err := signer.Issue(ctx, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return "?token=" + tok
	}
	k, err := keys.Ensure(ctx, open, drm.Protection{Scheme: drm.SchemeCENC})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Ensure(ctx, closed, drm.Protection{Scheme: drm.SchemeCENC, NoClearKey: true}); err != nil {
		t.Fatal(err)
	}
	secrets := []string{string(k.Key[:]), base64.RawURLEncoding.EncodeToString(k.Key[:]),
		base64.StdEncoding.EncodeToString(k.Key[:]), hex.EncodeToString(k.Key[:])}
	// refuse calls the API and checks that the refusal carries no key.
	refuse := func(status int, method, path string, body []byte) apiserver.Problem {
		t.Helper()
		a := c.call(t, e, status, method, path, body)
		for _, s := range secrets {
			if bytes.Contains(a.body, []byte(s)) {
				t.Errorf("%s %s: the %d answer carries the key: %s", method, path, status, a.body)
			}
		}
		return a.problem(t)
	}

	kid := k.KID.Base64URL()
	req := []byte(`{"kids":["` + kid + `"],"type":"temporary"}`)
	a := c.call(t, e, http.StatusOK, "POST", "/drm/clearkey/"+open+viewer(open), req)
	want := `{"keys":[{"kty":"oct","kid":"` + kid + `","k":"` + base64.RawURLEncoding.EncodeToString(k.Key[:]) + `"}],"type":"temporary"}` + "\n"
	if string(a.body) != want || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("license %s (%s), want %s", a.body, a.header.Get("Content-Type"), want)
	}
	for _, tt := range []struct {
		body   string
		fields []string
	}{
		{`{}`, []string{"kids"}},
		{`{"kids":"` + kid + `"}`, []string{"kids"}},
		{`{"kids":["` + kid + `", 7, "` + base64.URLEncoding.EncodeToString(k.KID[:]) + `", "AAAA"],"type":"later"}`,
			[]string{"kids[1]", "kids[2]", "kids[3]", "type"}},
		{`{"kids":[],"type":1}`, []string{"type"}},
	} {
		p := refuse(http.StatusBadRequest, "POST", "/drm/clearkey/"+open+viewer(open), []byte(tt.body))
		if got := len(p.Errors); got != len(tt.fields) {
			t.Errorf("%s: 400 names %d fields, want %v: %+v", tt.body, got, tt.fields, p)
		}
		for _, f := range tt.fields {
			if !slices.ContainsFunc(p.Errors, func(fe jobspec.FieldError) bool { return fe.Field == f }) {
				t.Errorf("%s: 400 %+v does not name %s", tt.body, p, f)
			}
		}
	}
	if p := refuse(http.StatusBadRequest, "POST", "/drm/clearkey/"+open+viewer(open), []byte(`kids`)); !strings.Contains(p.Detail, "not a ClearKey license request") {
		t.Errorf("400 for a body that is not JSON: %+v", p)
	}
	big := []byte(`{"kids":["` + strings.Repeat("A", 16<<10) + `"]}`)
	refuse(http.StatusRequestEntityTooLarge, "POST", "/drm/clearkey/"+open+viewer(open), big)
	refuse(http.StatusForbidden, "POST", "/drm/clearkey/"+closed+viewer(closed), req)
	if p := refuse(http.StatusNotFound, "POST", "/drm/clearkey/"+unknown+viewer(unknown), req); p.Code != jobspec.ENOTFOUND {
		t.Errorf("404 of a job without key, to its viewer: %+v", p)
	}

	if a := c.call(t, e, http.StatusOK, "GET", "/drm/key/"+open+viewer(open), nil); !bytes.Equal(a.body, k.Key[:]) ||
		a.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("HLS key %x (%s), want the job's key", a.body, a.header.Get("Content-Type"))
	}
	refuse(http.StatusNotFound, "GET", "/drm/key/"+unknown+viewer(unknown), nil)
	// Without a viewer token of the job, a DRM job, an unknown id and a
	// string that is no job id get one and the same answer.
	var first string
	for _, r := range []struct{ method, path string }{
		{"POST", "/drm/clearkey/" + open}, {"POST", "/drm/clearkey/" + open + "?token=guess"},
		{"POST", "/drm/clearkey/" + open + viewer(closed)}, {"POST", "/drm/clearkey/" + unknown},
		{"POST", "/drm/clearkey/not-a-job-id"}, {"GET", "/drm/key/" + open + "?token=guess"}, {"GET", "/drm/key/" + open},
		{"GET", "/drm/key/" + unknown + "?token=guess"}, {"GET", "/drm/key/not-a-job-id" + viewer(open)},
	} {
		p := refuse(http.StatusForbidden, r.method, r.path, req)
		got := fmt.Sprint(p.Type, p.Title, p.Status, p.Detail, p.Code, p.Errors) // all but the instance
		if first == "" {
			first = got
		}
		if got != first {
			t.Errorf("%s %s: %s, want the same refusal as %s", r.method, r.path, got, first)
		}
	}

	e.redis.Stop()
	for _, p := range []apiserver.Problem{
		refuse(http.StatusServiceUnavailable, "POST", "/drm/clearkey/"+open+viewer(open), req),
		refuse(http.StatusServiceUnavailable, "GET", "/drm/key/"+open+viewer(open), nil),
	} {
		if p.Code != jobspec.EUNAVAILABLE || strings.Contains(p.Detail, e.redis.Addr) {
			t.Errorf("503 %+v: want unavailable, without the cause", p)
		}
	}
	logged := log.String()
	if !strings.Contains(logged, "job_id="+open) || !strings.Contains(logged, "read key of job "+open) {
		t.Errorf("the access log lacks the job or the cause of the 503:\n%s", logged)
	}
	_, mac, _ := strings.Cut(viewer(open), ".") // tokens issued within one second are the same
	for _, s := range append(secrets, mac) {
		if strings.Contains(logged, s) {
			t.Errorf("the log carries the key or a viewer token:\n%s", logged)
		}
	}
}

// conformPlaybackTokens issues viewer tokens with and without a lifetime,
// and refuses a bad lifetime naming Ttl and an unknown job.
func conformPlaybackTokens(t *testing.T, c *contract) {
	e := newEnv(t)
	signed := strings.Replace(string(sampleSpec(t)), `"Output"`, `"Playback_policy": "signed", "Output"`, 1)
	job := c.call(t, e, http.StatusCreated, "POST", "/jobs", []byte(signed)).job(t)
	path := "/jobs/" + job.Id + "/playback_tokens"
	c.call(t, e, http.StatusCreated, "POST", path, nil)
	c.call(t, e, http.StatusCreated, "POST", path, []byte(`{"Ttl": 60}`))
	if p := c.call(t, e, http.StatusBadRequest, "POST", path, []byte(`{"Ttl": 86401}`)).problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "Ttl" {
		t.Errorf("400 for a Ttl past the bound does not name Ttl: %+v", p)
	}
	c.call(t, e, http.StatusNotFound, "POST", "/jobs/"+uuid.NewString()+"/playback_tokens", nil)
}

// conformToken checks that every private operation of the document answers
// 401 without the token, and that the token is accepted.
func conformToken(t *testing.T, c *contract) {
	e := newEnv(t, func(cfg *apiserver.Config) {
		cfg.Token = "secret"
		cfg.Feed = &fakeFeed{running: map[string]bool{}}
	})
	id := uuid.NewString()
	for path, item := range c.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 || method == http.MethodHead {
				continue // open
			}
			p := strings.ReplaceAll(path, "{id}", id)
			var body []byte
			if method == http.MethodPost {
				body = []byte(`{}`)
			}
			a := c.call(t, e, http.StatusUnauthorized, method, p, body)
			if a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", method, p)
			}
		}
	}
	c.call(t, e, http.StatusOK, "GET", "/jobs", nil, "Authorization: Bearer secret")
	c.call(t, e, http.StatusOK, "GET", "/events?access_token=secret", nil)
}

func conformRedisDown(t *testing.T, c *contract) {
	e := newEnv(t, func(cfg *apiserver.Config) { cfg.Feed = &fakeFeed{running: map[string]bool{}} })
	job := e.putJob(jobspec.StateStopped)
	c.call(t, e, http.StatusOK, "GET", "/readyz", nil)
	c.call(t, e, http.StatusOK, "HEAD", "/readyz", nil)
	e.redis.Stop()
	id := "/jobs/" + job.Id
	for _, r := range []struct{ method, path string }{
		{"POST", "/jobs"}, {"GET", "/jobs"}, {"GET", "/jobs/active"}, {"GET", id},
		{"PUT", id + "/stop"}, {"PUT", id + "/resume"}, {"DELETE", id}, {"POST", id + "/stream_key"}, {"POST", id + "/feed"},
		{"GET", id + "/thumbnail.jpg"},
		{"POST", id + "/playback_tokens"},
		{"GET", id + "/recordings"}, {"DELETE", id + "/recordings/g1p0"}, {"POST", id + "/clips"},
		{"GET", id + "/events"}, {"GET", "/events"}, {"GET", "/readyz"}, {"HEAD", "/readyz"},
	} {
		var body []byte
		if r.path == "/jobs" && r.method == "POST" {
			body = sampleSpec(t)
		}
		if strings.HasSuffix(r.path, "/clips") {
			body = []byte(`{"Start": 30, "End": 0}`)
		}
		a := c.call(t, e, http.StatusServiceUnavailable, r.method, r.path, body)
		if r.method == "HEAD" {
			continue
		}
		if p := a.problem(t); p.Code != jobspec.EUNAVAILABLE {
			t.Errorf("%s %s: problem %+v", r.method, r.path, p)
		}
	}
	c.call(t, e, http.StatusOK, "GET", "/healthz", nil)
}

func conformOpen(t *testing.T, c *contract) {
	e := newEnv(t, func(cfg *apiserver.Config) { cfg.Token = "secret" })
	c.call(t, e, http.StatusOK, "GET", "/healthz", nil)
	c.call(t, e, http.StatusOK, "HEAD", "/healthz", nil)
	a := c.call(t, e, http.StatusOK, "GET", "/metrics", nil, "Authorization: Bearer secret")
	if !strings.Contains(string(a.body), "ezlive_api_requests_total") {
		t.Errorf("metrics do not count API requests:\n%.500s", a.body)
	}
	// CORS preflights are answered for routes that exist, without token.
	pre := e.do("OPTIONS", "/jobs", nil, "Access-Control-Request-Method: POST", "Origin: http://page.test")
	if pre.want(t, http.StatusNoContent); !strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight answered %v", pre.header)
	}
	doc := c.call(t, e, http.StatusOK, "GET", "/openapi.yaml", nil)
	file, err := os.ReadFile("openapi.yaml")
	if err != nil || !bytes.Equal(doc.body, file) {
		t.Errorf("GET /openapi.yaml does not serve openapi.yaml (%v)", err)
	}
}

// conformLimits answers 429s: a full queue refuses creating and resuming,
// a client at its quota creating.
func conformLimits(t *testing.T, c *contract) {
	e := newEnv(t, func(cfg *apiserver.Config) { cfg.MaxQueued, cfg.ClientQuota = 1, 2 })
	stopped := e.putJob(jobspec.StateStopped)
	if err := e.store.Enqueue(ctxT(t), "waiting"); err != nil {
		t.Fatal(err)
	}
	c.call(t, e, http.StatusTooManyRequests, "POST", "/jobs", sampleSpec(t), "Content-Type: application/json")
	c.call(t, e, http.StatusTooManyRequests, "PUT", "/jobs/"+stopped.Id+"/resume", nil)
	e.store.Dequeue(ctxT(t), "waiting")
	c.call(t, e, http.StatusCreated, "POST", "/jobs", sampleSpec(t), "Content-Type: application/json")
	c.call(t, e, http.StatusTooManyRequests, "POST", "/jobs", sampleSpec(t), "Content-Type: application/json")
}
