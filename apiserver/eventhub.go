package apiserver

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/store"
)

// subBuffer is how many unread batches a stream may have before the hub
// stops handing it more; it then reads on by itself until it is back.
const subBuffer = 64

// eventHub is a Server's one reader of job_events. While any event stream
// is open, one goroutine waits on Redis (XREAD BLOCK) and hands every batch
// it reads to every open stream, so that open streams do not each hold a
// pooled connection. It stops when the last stream leaves.
type eventHub struct {
	src EventSource
	log *slog.Logger

	mu   sync.Mutex
	subs map[*eventSub]struct{}
	pos  string        // the last position read; "" until the reader knows it
	done chan struct{} // closed when the running reader returns; nil: none runs
	lags int           // batches not handed to a stream that was too far behind
}

// readBatch is what the hub read in one go: the events after position
// from up to position to, in order (none when from == to: it only tells
// where the hub is).
type readBatch struct {
	from, to string
	events   []store.JobEvent
}

func newEventHub(src EventSource, log *slog.Logger) *eventHub {
	return &eventHub{src: src, log: log, subs: map[*eventSub]struct{}{}}
}

// subscribe follows job_events from position after, starting the reader if
// none runs.
func (h *eventHub) subscribe(after string) *eventSub {
	sub := &eventSub{hub: h, ch: make(chan readBatch, subBuffer), after: after}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[sub] = struct{}{}
	if h.pos != "" {
		sub.ch <- readBatch{from: h.pos, to: h.pos}
	}
	if h.done == nil {
		h.done = make(chan struct{})
		go h.run(h.done)
	}
	return sub
}

func (h *eventHub) unsubscribe(sub *eventSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sub)
}

// run reads job_events from where it is now until no stream is left. A
// Redis failure is logged and retried after a pause.
func (h *eventHub) run(done chan struct{}) {
	defer close(done)
	ctx := context.Background()
	pos := ""
	for h.wanted() {
		if pos == "" {
			latest, err := h.src.LatestEventID(ctx)
			if err != nil {
				h.log.Warn("event hub: read job events position", "err", err)
				time.Sleep(eventBlock)
				continue
			}
			pos = latest
			h.publish(readBatch{from: pos, to: pos})
			continue
		}
		evs, err := h.src.JobEvents(ctx, pos, eventBatch, eventBlock)
		if err != nil {
			h.log.Warn("event hub: read job events", "err", err)
			time.Sleep(eventBlock)
			continue
		}
		if len(evs) > 0 {
			to := evs[len(evs)-1].ID
			h.publish(readBatch{from: pos, to: to, events: evs})
			pos = to
		}
	}
}

// wanted reports whether a stream is open. When none is, the reader is
// marked stopped in the same critical section, so that subscribe either
// sees it running or starts a new one.
func (h *eventHub) wanted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) > 0 {
		return true
	}
	h.pos, h.done = "", nil
	return false
}

// publish hands b to every stream that has room for it; one that has none
// is marked lagged and reads the batch from Redis itself.
func (h *eventHub) publish(b readBatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = b.to
	for sub := range h.subs {
		select {
		case sub.ch <- b:
		default:
			sub.lagged = true
			h.lags++
		}
	}
}

// eventSub is one stream's place in job_events. It follows the hub, and
// reads Redis itself (without waiting) while it is behind the hub: when it
// started before the hub's position or fell too far behind. Every event
// after its start is handed on once, in order, whichever way it came.
type eventSub struct {
	hub    *eventHub
	ch     chan readBatch
	after  string     // the last position handed on
	target string     // read Redis itself until after reaches it
	held   *readBatch // the hub's batch that starts past after
	lagged bool       // guarded by hub.mu: the hub dropped a batch
}

// next returns the events that follow the last it returned, waiting up to
// eventBlock for the hub; nil when there are none yet, on a Redis failure
// (logged and waited out) or when the stream ends.
func (sub *eventSub) next(es *eventStream) []store.JobEvent {
	wait := time.NewTimer(eventBlock)
	defer wait.Stop()
	for {
		if sub.behind() {
			return sub.catchUp(es)
		}
		if b := sub.held; b != nil {
			sub.held = nil
			if evs := sub.take(*b); len(evs) > 0 {
				return evs
			}
			continue
		}
		select {
		case b := <-sub.ch:
			if evs := sub.take(b); len(evs) > 0 {
				return evs
			}
			continue
		default:
		}
		if sub.lagging() {
			continue
		}
		select {
		case b := <-sub.ch:
			if evs := sub.take(b); len(evs) > 0 {
				return evs
			}
		case <-wait.C:
			return nil
		case <-es.ctx.Done():
			return nil
		case <-es.shutdown:
			return nil
		}
	}
}

func (sub *eventSub) behind() bool {
	if sub.target != "" && eventIDBefore(sub.after, sub.target) {
		return true
	}
	sub.target = ""
	return false
}

// take returns the events of b past after. A batch that starts past after
// would leave a gap: it is held until reads from Redis have filled it.
func (sub *eventSub) take(b readBatch) []store.JobEvent {
	if eventIDBefore(sub.after, b.from) {
		sub.held, sub.target = &b, b.from
		return nil
	}
	evs := b.events
	for len(evs) > 0 && !eventIDBefore(sub.after, evs[0].ID) {
		evs = evs[1:]
	}
	if len(evs) > 0 {
		sub.after = evs[len(evs)-1].ID
	}
	return evs
}

// lagging reports whether the hub dropped a batch for sub since last asked,
// and if so sets it to read on by itself up to where the hub is.
func (sub *eventSub) lagging() bool {
	h := sub.hub
	h.mu.Lock()
	lagged, pos := sub.lagged, h.pos
	sub.lagged = false
	h.mu.Unlock()
	if lagged && eventIDBefore(sub.after, pos) {
		sub.target = pos
		return true
	}
	return false
}

// catchUp reads the next events after sub's position without waiting.
func (sub *eventSub) catchUp(es *eventStream) []store.JobEvent {
	evs, err := sub.hub.src.JobEvents(es.ctx, sub.after, eventBatch, 0)
	if err != nil {
		if es.ctx.Err() == nil {
			sub.hub.log.Warn("event stream: read job events", "err", err)
			es.sleep(eventBlock)
		}
		return nil
	}
	if len(evs) == 0 {
		// Nothing is left after sub's position: what lay up to the
		// target was trimmed away.
		sub.after, sub.target = sub.target, ""
		return nil
	}
	sub.after = evs[len(evs)-1].ID
	return evs
}

// eventIDBefore reports whether stream id a comes before b. Redis orders
// ids by milliseconds, then sequence; "ms" alone is ms-0, as XREAD reads it.
func eventIDBefore(a, b string) bool {
	ams, aseq := splitEventID(a)
	bms, bseq := splitEventID(b)
	return ams < bms || ams == bms && aseq < bseq
}

func splitEventID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
