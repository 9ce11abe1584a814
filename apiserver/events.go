package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// Event stream timing. The hub waits for live changes in Redis (XREAD
// BLOCK) at most eventBlock, and a stream waits for the hub at most as
// long, which is also how often the job records are compared with what was
// last sent; a comment every streamHeartbeat keeps proxies from closing a
// quiet stream.
const (
	eventBlock         = time.Second
	streamHeartbeat    = 15 * time.Second
	streamWriteTimeout = 10 * time.Second
	eventBatch         = 100
)

// StateEvent is one event of a job (a state change, or an input or output
// event with the state unchanged) as the API sends it. Id is its position in the
// job_events stream (empty for history read from the record); a client
// reconnecting with Last-Event-ID resumes after it.
type StateEvent struct {
	Id    string `json:"Id,omitempty"`
	JobId string `json:"JobId"`
	jobspec.Event
}

// eventName is a job event's name on an event stream: "state" for a state
// change, as it always was, else its Type ("input_lost", "input_restored",
// "output_failing", "output_restored"), so that a client listening for
// state changes never takes an input or output event for one.
func eventName(ev jobspec.Event) string {
	if ev.StateChange() {
		return "state"
	}
	return string(ev.Type)
}

// deletedEvent is the last event of a job's stream.
type deletedEvent struct {
	JobId string `json:"JobId"`
}

// jobEvents answers GET /jobs/:id/events: the job's state history as JSON,
// or as a Server-Sent Event stream that goes on with live changes.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request, ps httprouter.Params) error {
	stream, bad := flagParam(r.URL.Query(), "stream")
	if bad != nil {
		return &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: []jobspec.FieldError{*bad}}
	}
	if stream || wantsEventStream(r) {
		return s.streamJob(w, r, ps.ByName("id"))
	}
	job, err := s.lookupJob(r.Context(), ps.ByName("id"))
	if err != nil {
		return err
	}
	events := job.Events
	if events == nil {
		events = []jobspec.Event{}
	}
	return writeJSON(w, http.StatusOK, events)
}

// streamJob sends the job's history, its record, then every state change
// and every change of the record until the job is deleted or the client
// leaves. The stream position is read before the record, so a change made
// in between is both in the history and read live: it is sent once.
func (s *Server) streamJob(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	after, resumed := lastEventID(r)
	if !resumed {
		var err error
		if after, err = s.events.LatestEventID(ctx); err != nil {
			return err
		}
	}
	job, err := s.lookupJob(ctx, id)
	if err != nil {
		return err
	}
	es := s.openStream(w, r)
	defer es.close()
	sub := s.hub.subscribe(after)
	defer s.hub.unsubscribe(sub)
	history := map[jobspec.Event]bool{}
	if !resumed {
		for _, ev := range job.Events {
			history[eventKey(ev)] = true
			es.send(eventName(ev), "", StateEvent{JobId: id, Event: ev})
		}
	}
	record := s.newRecordWatch()
	record.sendIfChanged(es, job)
	for es.live() {
		changed := false
		for _, ev := range readEvents(es, sub) {
			if ev.JobID == id && !history[eventKey(ev.Event)] {
				es.send(eventName(ev.Event), ev.ID, StateEvent{Id: ev.ID, JobId: id, Event: ev.Event})
				changed = true
			}
		}
		if gone := s.refreshJob(ctx, es, record, id, changed); gone {
			return nil
		}
	}
	return nil
}

// refreshJob sends the job's record if it changed since last sent, at most
// once per eventBlock unless a state change just came; it reports whether
// the job is gone (a final "deleted" event is sent then).
func (s *Server) refreshJob(ctx context.Context, es *eventStream, rw *recordWatch, id string, now bool) bool {
	if !now && time.Since(rw.checked) < eventBlock {
		return false
	}
	rw.checked = time.Now()
	job, err := s.cfg.Store.Job(ctx, id)
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		es.send("deleted", "", deletedEvent{JobId: id})
		return true
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("event stream: read job", "job_id", id, "err", err)
		}
		return false
	}
	rw.sendIfChanged(es, job)
	return false
}

// allEvents answers GET /events: a page of job_events as JSON, or a stream
// of every job's state changes and every change of an active job's record.
func (s *Server) allEvents(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := r.URL.Query()
	stream, bad := flagParam(q, "stream")
	if bad != nil {
		return &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: []jobspec.FieldError{*bad}}
	}
	if stream || wantsEventStream(r) {
		return s.streamAll(w, r)
	}
	return s.pageEvents(w, r, q)
}

// pageEvents answers up to limit events after position after ("0": the
// oldest kept), and a Link to the next page.
func (s *Server) pageEvents(w http.ResponseWriter, r *http.Request, q url.Values) error {
	after := q.Get("after")
	if after == "" {
		after = "0"
	}
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: []jobspec.FieldError{{
				Field: "limit", Message: fmt.Sprintf("%q is not a whole number from 1 to %d", v, MaxListLimit)}}}
		}
		limit = n
	}
	if !validEventID(after) {
		return &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid query", Fields: []jobspec.FieldError{{
			Field: "after", Message: fmt.Sprintf("%q is not an event id such as 1700000000000-0", after)}}}
	}
	evs, err := s.events.JobEvents(r.Context(), after, int64(limit), 0)
	if err != nil {
		return err
	}
	out := make([]StateEvent, 0, len(evs))
	for _, ev := range evs {
		out = append(out, StateEvent{Id: ev.ID, JobId: ev.JobID, Event: ev.Event})
	}
	if len(out) == limit {
		v := url.Values{"after": {out[len(out)-1].Id}, "limit": {strconv.Itoa(limit)}}
		w.Header().Set("Link", "</events?"+v.Encode()+`>; rel="next"`)
	}
	return writeJSON(w, http.StatusOK, out)
}

// streamAll first sends the record of every active job, then goes on with
// state changes of every job and with records that change: those of active
// jobs, the record after each state change, and "deleted" when a job is gone.
func (s *Server) streamAll(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	after, resumed := lastEventID(r)
	if !resumed {
		var err error
		if after, err = s.events.LatestEventID(ctx); err != nil {
			return err
		}
	}
	es := s.openStream(w, r)
	defer es.close()
	sub := s.hub.subscribe(after)
	defer s.hub.unsubscribe(sub)
	watch := s.newActiveWatch()
	watch.refresh(ctx, es)
	for es.live() {
		evs := readEvents(es, sub)
		for _, ev := range evs {
			es.send(eventName(ev.Event), ev.ID, StateEvent{Id: ev.ID, JobId: ev.JobID, Event: ev.Event})
			watch.record(ev.JobID) // its record follows, whatever the state
		}
		if len(evs) > 0 || time.Since(watch.checked) >= eventBlock {
			watch.refresh(ctx, es)
		}
	}
	return nil
}

// readEvents waits for the next state changes the stream follows. A Redis
// failure is logged and waited out: the client stays connected.
func readEvents(es *eventStream, sub *eventSub) []store.JobEvent {
	evs := sub.next(es)
	es.heartbeat()
	return evs
}

// recordWatch remembers the record last sent on a stream.
type recordWatch struct {
	last    []byte
	checked time.Time
}

func (s *Server) newRecordWatch() *recordWatch { return &recordWatch{checked: time.Now()} }

func (rw *recordWatch) sendIfChanged(es *eventStream, job *jobspec.LiveJob) {
	raw, err := json.Marshal(job)
	if err != nil || bytes.Equal(raw, rw.last) {
		return
	}
	rw.last = raw
	es.sendRaw("job", "", raw)
}

// activeWatch remembers, per job, the record last sent on /events.
type activeWatch struct {
	s       *Server
	sent    map[string]*recordWatch
	checked time.Time
}

func (s *Server) newActiveWatch() *activeWatch {
	return &activeWatch{s: s, sent: map[string]*recordWatch{}}
}

// refresh sends the records of active jobs that changed, and follows the
// jobs that left the active set until they are stopped, failed or gone.
func (a *activeWatch) refresh(ctx context.Context, es *eventStream) {
	a.checked = time.Now()
	seen := map[string]bool{}
	cursor := ""
	for {
		jobs, next, err := a.s.cfg.Store.ListJobs(ctx, store.ListOptions{States: activeStates, Limit: MaxListLimit, Cursor: cursor})
		if err != nil {
			if ctx.Err() == nil {
				a.s.log.Warn("event stream: list active jobs", "err", err)
			}
			return
		}
		for _, j := range jobs {
			seen[j.Id] = true
			a.record(j.Id).sendIfChanged(es, j)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for id, rw := range a.sent {
		if !seen[id] {
			a.leave(ctx, es, id, rw)
		}
	}
}

func (a *activeWatch) record(id string) *recordWatch {
	rw, ok := a.sent[id]
	if !ok {
		rw = &recordWatch{}
		a.sent[id] = rw
	}
	return rw
}

// leave sends the last record of a job that is no longer active; a job
// being deleted is followed until it is gone.
func (a *activeWatch) leave(ctx context.Context, es *eventStream, id string, rw *recordWatch) {
	job, err := a.s.cfg.Store.Job(ctx, id)
	switch {
	case jobspec.ErrorCode(err) == jobspec.ENOTFOUND:
		es.send("deleted", "", deletedEvent{JobId: id})
		delete(a.sent, id)
	case err == nil:
		rw.sendIfChanged(es, job)
		if job.State != jobspec.StateDeleting {
			delete(a.sent, id)
		}
	}
}

var activeStates = []jobspec.State{jobspec.StateCreated, jobspec.StateScheduled, jobspec.StateRunning, jobspec.StateStreaming}

// eventKey is an event as a map key (times compared as instants).
func eventKey(ev jobspec.Event) jobspec.Event {
	ev.Time = ev.Time.UTC().Round(0)
	return ev
}

func wantsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// lastEventID is where a reconnecting EventSource resumes.
func lastEventID(r *http.Request) (string, bool) {
	id := r.Header.Get("Last-Event-ID")
	return id, validEventID(id) && id != "0"
}

// validEventID accepts a Redis stream id: ms or ms-seq.
func validEventID(id string) bool {
	ms, seq, hasSeq := strings.Cut(id, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if hasSeq {
		_, err := strconv.ParseUint(seq, 10, 64)
		return err == nil
	}
	return true
}

// eventStream writes Server-Sent Events. A failed write ends the stream.
type eventStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	ctx      context.Context
	shutdown <-chan struct{}
	beat     time.Time
	err      error
	streams  interface{ Dec() }
}

type shutdownKey struct{}

// openStream answers 200 text/event-stream. The server's WriteTimeout would
// cut the connection after 30 s, so the stream sets a write deadline per
// write instead, and clears the read deadline that ReadTimeout left on the
// connection (nothing more is read from a stream's client).
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) *eventStream {
	noteStream(r)
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Warn("event stream: clear read deadline", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	shutdown, _ := r.Context().Value(shutdownKey{}).(<-chan struct{})
	es := &eventStream{w: w, rc: rc, ctx: r.Context(), shutdown: shutdown, beat: time.Now(), streams: s.httpm.streams}
	s.httpm.streams.Inc()
	es.deadline()
	w.WriteHeader(http.StatusOK)
	es.flush()
	return es
}

func (es *eventStream) close() { es.streams.Dec() }

// live reports whether the stream should go on: the client is there, no
// write failed and the server is not shutting down.
func (es *eventStream) live() bool {
	select {
	case <-es.shutdown:
		return false
	default:
	}
	return es.err == nil && es.ctx.Err() == nil
}

func (es *eventStream) send(event, id string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		es.err = fmt.Errorf("encode %s event: %w", event, err)
		return
	}
	es.sendRaw(event, id, raw)
}

func (es *eventStream) sendRaw(event, id string, data []byte) {
	var b bytes.Buffer
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("event: " + event + "\ndata: ")
	b.Write(data) // JSON from Marshal has no newline
	b.WriteString("\n\n")
	es.write(b.Bytes())
}

// heartbeat writes a comment when the stream has been quiet for a while.
func (es *eventStream) heartbeat() {
	if time.Since(es.beat) >= streamHeartbeat {
		es.write([]byte(": ping\n\n"))
	}
}

func (es *eventStream) write(b []byte) {
	if es.err != nil {
		return
	}
	es.deadline()
	if _, err := es.w.Write(b); err != nil {
		es.err = err
		return
	}
	es.flush()
	es.beat = time.Now()
}

func (es *eventStream) deadline() {
	if err := es.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		es.err = err
	}
}

func (es *eventStream) flush() {
	if err := es.rc.Flush(); err != nil && es.err == nil {
		es.err = err
	}
}

func (es *eventStream) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-es.ctx.Done():
	case <-es.shutdown:
	case <-t.C:
	}
}
