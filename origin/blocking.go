package origin

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// reloadRequest is a blocking playlist reload (RFC 8216bis 6.2.5.2): answer
// once the playlist holds segment msn, or with part, part of segment msn.
type reloadRequest struct {
	msn, part int64
	hasPart   bool
}

// parseReload reads _HLS_msn and _HLS_part; ok is false when there are
// neither. Other _HLS_ parameters are ignored: the origin never advertises
// CAN-SKIP-UNTIL, so _HLS_skip gets the whole playlist.
func parseReload(q url.Values) (req reloadRequest, ok bool, err error) {
	msn, hasMSN := q["_HLS_msn"]
	part, hasPart := q["_HLS_part"]
	switch {
	case !hasMSN && !hasPart:
		return req, false, nil
	case !hasMSN:
		return req, true, errors.New("_HLS_part without _HLS_msn")
	}
	if req.msn, ok = parseCount(msn[0]); !ok {
		return req, true, errors.New("_HLS_msn is not a non-negative integer")
	}
	if hasPart {
		if req.part, ok = parseCount(part[0]); !ok {
			return req, true, errors.New("_HLS_part is not a non-negative integer")
		}
		req.hasPart = true
	}
	return req, true, nil
}

// satisfiedBy reports whether playlist p answers the request: segment msn
// is complete, or it is the segment in progress and has more than part parts.
func (q reloadRequest) satisfiedBy(p playlistEdge) bool {
	last := p.lastMSN()
	return q.msn <= last || q.hasPart && q.msn == last+1 && p.parts > q.part
}

// getBlocking serves a GET of an HLS playlist that carries _HLS_msn. It
// returns false, having written nothing, for any other request.
func (s *Server) getBlocking(w http.ResponseWriter, r *http.Request, name string) bool {
	if r.URL.RawQuery == "" || !strings.EqualFold(path.Ext(name), ".m3u8") {
		return false
	}
	want, ok, err := parseReload(r.URL.Query())
	switch {
	case !ok:
		return false
	case err != nil:
		badRequest(w, err.Error())
	default:
		s.holdPlaylist(w, r, name, want)
	}
	return true
}

// holdPlaylist answers once a stored version of playlist name satisfies
// want, or with 503 after the playlist's hold time. Each round subscribes
// before it reads, so a version stored in between wakes it.
func (s *Server) holdPlaylist(w http.ResponseWriter, r *http.Request, name string, want reloadRequest) {
	var timeout <-chan time.Time
	for {
		changed := s.changes.subscribe(name)
		edge, answered := s.answerPlaylist(w, r, name, want)
		if answered {
			s.changes.unsubscribe(name, changed)
			return
		}
		if timeout == nil {
			t := time.NewTimer(edge.hold())
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
			continue
		case <-timeout:
			w.Header().Set("Retry-After", strconv.FormatInt(edge.targetSeconds(), 10))
			httpError(w, "playlist not updated in time", http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
		s.changes.unsubscribe(name, changed)
		return
	}
}

// answerPlaylist serves the stored playlist name when it satisfies want,
// and answers errors. Otherwise it writes nothing and returns the
// playlist's edge, to wait for the next version.
func (s *Server) answerPlaylist(w http.ResponseWriter, r *http.Request, name string, want reloadRequest) (playlistEdge, bool) {
	o, err := s.open(r.Context(), name) // the complete version; never an upload in progress
	if err != nil {
		s.openFailed(w, name, err)
		return playlistEdge{}, true
	}
	defer o.Close()
	edge, ok := scanFile(o.Content, o.Size)
	kind := classify(name)
	switch {
	case !ok:
		// Not a media playlist the origin can read: served as it is.
	case edge.ended || want.satisfiedBy(edge):
		// Later identical requests get the same answer for about a segment.
		kind.cacheControl = "public, max-age=" + strconv.FormatInt(edge.targetSeconds(), 10)
	case want.msn > edge.lastMSN()+2:
		badRequest(w, "_HLS_msn is beyond the live edge")
		return edge, true
	default:
		return edge, false
	}
	s.serveStored(w, r, name, o, kind)
	return edge, true
}

// maxPooledPlaylist keeps rare huge playlists' buffers out of the pool.
const maxPooledPlaylist = 1 << 20

var playlistBufs = sync.Pool{New: func() any { return new([]byte) }}

// scanFile reads size bytes of a playlist into a pooled buffer and scans them.
func scanFile(f io.Reader, size int64) (playlistEdge, bool) {
	bp := playlistBufs.Get().(*[]byte)
	if int64(cap(*bp)) < size {
		*bp = make([]byte, size)
	}
	defer func() {
		if cap(*bp) <= maxPooledPlaylist {
			playlistBufs.Put(bp)
		}
	}()
	b := (*bp)[:size]
	if _, err := io.ReadFull(f, b); err != nil {
		return playlistEdge{}, false
	}
	return scanPlaylist(b)
}

// changes wakes readers waiting for a stored file to change. Only names
// someone waits on have an entry, so a store nobody waits for costs a map
// lookup and allocates nothing.
type changes struct {
	mu     sync.Mutex
	byName map[string]*waiters
}

type waiters struct {
	changed chan struct{} // closed at the next change
	n       int           // readers subscribed
}

// subscribe returns a channel closed at the next change of name. A reader
// that stops waiting before it is closed must unsubscribe.
func (c *changes) subscribe(name string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.byName[name]
	if ws == nil {
		if c.byName == nil {
			c.byName = make(map[string]*waiters)
		}
		ws = &waiters{changed: make(chan struct{})}
		c.byName[name] = ws
	}
	ws.n++
	return ws.changed
}

// unsubscribe forgets one reader of changed; after a change it does nothing.
func (c *changes) unsubscribe(name string, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ws := c.byName[name]; ws != nil && ws.changed == changed {
		if ws.n--; ws.n == 0 {
			delete(c.byName, name)
		}
	}
}

// notify wakes the readers of name: it was stored or removed.
func (c *changes) notify(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ws := c.byName[name]; ws != nil {
		close(ws.changed)
		delete(c.byName, name)
	}
}

// notifyJob wakes the readers of every file of jobID: they were removed.
func (c *changes) notifyJob(jobID string) {
	prefix := jobID + "/"
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, ws := range c.byName {
		if strings.HasPrefix(name, prefix) {
			close(ws.changed)
			delete(c.byName, name)
		}
	}
}
