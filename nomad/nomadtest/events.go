package nomadtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// frame is one line of /v1/event/stream: the events of one state index.
type frame struct {
	Index  uint64
	Events []api.Event
}

// publish appends ev at the current index; s.mu is held and the caller has
// just bumped the index.
func (s *Server) publish(ev api.Event) {
	ev.Index = s.index
	if n := len(s.frames); n > 0 && s.frames[n-1].Index == s.index {
		s.frames[n-1].Events = append(s.frames[n-1].Events, ev)
		return
	}
	s.frames = append(s.frames, frame{Index: s.index, Events: []api.Event{ev}})
}

// allocEvent carries a copy of the allocation without its job, as Nomad's
// allocation events do.
func allocEvent(typ string, a *api.Allocation) api.Event {
	c := *a
	c.Job = nil
	return api.Event{
		Topic: api.TopicAllocation, Type: typ, Key: a.ID,
		FilterKeys: []string{a.JobID, a.DeploymentID},
		Payload:    map[string]any{"Allocation": clone(&c)},
	}
}

func jobEvent(typ string, j *api.Job) api.Event {
	return api.Event{Topic: api.TopicJob, Type: typ, Key: *j.ID, Payload: map[string]any{"Job": clone(j)}}
}

func nodeEvent(typ string, n *api.Node) api.Event {
	return api.Event{Topic: api.TopicNode, Type: typ, Key: n.ID, Payload: map[string]any{"Node": clone(n)}}
}

// topicFilter is the parsed ?topic= list: topic → keys ("*" for all).
type topicFilter map[api.Topic][]string

func parseTopics(values []string) topicFilter {
	f := topicFilter{}
	if len(values) == 0 {
		f[api.TopicAll] = []string{"*"}
	}
	for _, v := range values {
		topic, key, ok := strings.Cut(v, ":")
		if !ok {
			key = "*"
		}
		f[api.Topic(topic)] = append(f[api.Topic(topic)], key)
	}
	return f
}

func (f topicFilter) match(ev api.Event) bool {
	for _, t := range []api.Topic{ev.Topic, api.TopicAll} {
		for _, key := range f[t] {
			if key == "*" || key == ev.Key || slices.Contains(ev.FilterKeys, key) {
				return true
			}
		}
	}
	return false
}

// eventStream serves newline-delimited frames from ?index= (inclusive; 0
// means from now), with `{}` heartbeats while idle.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	if s.cfg.NoEventStream {
		http.NotFound(w, r)
		return
	}
	next, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	filter := parseTopics(r.URL.Query()["topic"])
	s.mu.Lock()
	if s.pausedEv {
		s.mu.Unlock()
		http.Error(w, "No cluster leader", http.StatusInternalServerError)
		return
	}
	if next == 0 {
		next = s.index + 1
	}
	s.streamID++
	id, drop := s.streamID, make(chan struct{})
	s.streams[id] = drop
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, id)
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	heartbeat := time.NewTicker(s.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		s.mu.Lock()
		pending, changed := s.framesFrom(next, filter), s.changed
		if n := len(s.frames); n > 0 {
			next = max(next, s.frames[n-1].Index+1)
		}
		s.mu.Unlock()
		for _, f := range pending {
			if enc.Encode(f) != nil {
				return
			}
		}
		flush()
		select {
		case <-changed:
		case <-heartbeat.C:
			if _, err := w.Write([]byte("{}\n")); err != nil {
				return
			}
			flush()
		case <-drop:
			return
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		}
	}
}

// framesFrom returns the frames at index ≥ from, filtered; s.mu is held.
func (s *Server) framesFrom(from uint64, f topicFilter) []frame {
	i, _ := slices.BinarySearchFunc(s.frames, from, func(fr frame, idx uint64) int {
		switch {
		case fr.Index < idx:
			return -1
		case fr.Index > idx:
			return 1
		}
		return 0
	})
	var out []frame
	for _, fr := range s.frames[i:] {
		var evs []api.Event
		for _, ev := range fr.Events {
			if f.match(ev) {
				evs = append(evs, ev)
			}
		}
		if len(evs) > 0 {
			out = append(out, frame{Index: fr.Index, Events: evs})
		}
	}
	return out
}

// DropEventStreams ends every open event stream, as a restarting agent does;
// clients reconnect and resume from their last index.
func (s *Server) DropEventStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, drop := range s.streams {
		close(drop)
		delete(s.streams, id)
	}
}

// PauseEventStreams drops open streams and, while paused, refuses new ones
// with 500 "No cluster leader"; events still accumulate for a later resume.
func (s *Server) PauseEventStreams(paused bool) {
	s.mu.Lock()
	s.pausedEv = paused
	s.mu.Unlock()
	if paused {
		s.DropEventStreams()
	}
}

// StreamCount is the number of open event streams (tests wait on it).
func (s *Server) StreamCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}
