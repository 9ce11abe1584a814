package transcoder

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/rtmp"
)

// The front terminates the publisher's RTMP in the transcoder: it checks
// the stream key before any media reaches ffmpeg, and it hands the media
// on as sessions, so ffmpeg outlives publishers that come and go.

// rtmpApp is the application publishers connect to, as at the gateway.
const rtmpApp = "live"

// frontTimeouts bound a publisher's negotiation; media has no deadline
// here (the splice decides when input is lost).
const (
	frontHandshakeTimeout = 10 * time.Second
	frontChunkSize        = 4096
)

// session is one publisher's media, from its publish to its leaving: tags
// is closed when it leaves (or is replaced, or dropped by the splice).
type session struct {
	id   int64
	key  string // the stream key it published with
	tags chan tag
	conn *rtmp.Conn
	gone chan struct{} // closed by drop
	once sync.Once
}

// drop ends the session's connection; its reader then closes tags.
func (s *session) drop() {
	s.once.Do(func() {
		close(s.gone)
		s.conn.Close()
	})
}

// front listens for publishers on one address.
type front struct {
	ln       net.Listener
	log      *slog.Logger
	sessions chan *session // each new publisher, once it publishes
	bytesIn  atomic.Int64

	mu      sync.Mutex
	key     string // the job's stream key: setKey follows rotations
	current *session
	nextID  int64
	closed  bool
	wg      sync.WaitGroup
}

func startFront(addr, key string, log *slog.Logger) (*front, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for publishers: %w", err)
	}
	f := &front{ln: ln, key: key, log: log, sessions: make(chan *session, 1)}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// close stops listening and ends the current publisher.
func (f *front) close() {
	f.mu.Lock()
	f.closed = true
	cur := f.current
	f.mu.Unlock()
	f.ln.Close()
	if cur != nil {
		cur.drop()
	}
	f.wg.Wait()
}

func (f *front) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.serve(nc)
		}()
	}
}

// serve negotiates one connection and, for the job's stream key, reads its
// media into a new session. A new publisher replaces the current one: the
// old connection is often a dead one whose encoder has already come back.
func (f *front) serve(nc net.Conn) {
	defer nc.Close()
	log := f.log.With("remote", nc.RemoteAddr().String())
	nc.SetDeadline(time.Now().Add(frontHandshakeTimeout))
	if err := rtmp.ServerHandshake(nc); err != nil {
		log.Info("publisher refused", "err", err)
		return
	}
	c := rtmp.NewConn(nc, rtmp.Limits{})
	req, err := rtmp.AwaitPublish(c, rtmpApp, frontChunkSize)
	if err == nil && req.Key != f.currentKey() {
		err = rtmp.KeyRefusal(rtmp.RefusedBadKey, errors.New("wrong stream key"))
	}
	if err != nil {
		var r *rtmp.Refusal
		if errors.As(err, &r) {
			r.Answer(c, req.StreamID)
		}
		log.Warn("publisher refused", "err", err)
		return
	}
	c.WriteUserControl(rtmp.EventStreamBegin, req.StreamID)
	if err := c.WriteStatus(req.StreamID, rtmp.Status{Level: "status", Code: rtmp.CodePublishStart, Description: "Publishing."}); err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	s := f.begin(c, req.Key)
	if s == nil {
		return
	}
	log.Info("publisher on", "session", s.id)
	err = f.read(c, s)
	close(s.tags)
	log.Info("publisher off", "session", s.id, "err", err)
}

func (f *front) currentKey() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key
}

// setKey takes a rotated stream key: a publisher still on another key is
// dropped, and only the new key publishes from now on.
func (f *front) setKey(key string) {
	f.mu.Lock()
	f.key = key
	cur := f.current
	f.mu.Unlock()
	if cur != nil && cur.key != key {
		f.log.Info("publisher dropped: its stream key was rotated", "session", cur.id)
		cur.drop()
	}
}

// begin registers a new session of a publisher that published with key,
// replacing the current one. A key rotated meanwhile refuses it.
func (f *front) begin(c *rtmp.Conn, key string) *session {
	f.mu.Lock()
	if f.closed || key != f.key {
		f.mu.Unlock()
		return nil
	}
	f.nextID++
	s := &session{id: f.nextID, key: key, tags: make(chan tag, 512), conn: c, gone: make(chan struct{})}
	old := f.current
	f.current = s
	f.mu.Unlock()
	if old != nil {
		old.drop()
	}
	// The splice takes sessions one at a time; a session it has not taken
	// yet is replaced by this one.
	for {
		select {
		case f.sessions <- s:
			return s
		case stale := <-f.sessions:
			stale.drop()
		}
	}
}

// read passes the publisher's audio and video on until it leaves.
func (f *front) read(c *rtmp.Conn, s *session) error {
	var before uint64
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		n := c.BytesRead()
		f.bytesIn.Add(int64(n - before))
		before = n
		switch {
		case m.Type == rtmp.TypeAudio || m.Type == rtmp.TypeVideo:
			select {
			case s.tags <- tag{typ: m.Type, ts: int64(m.Timestamp), body: m.Payload, arrived: time.Now()}:
			case <-s.gone:
				return errDropped
			}
		case m.Type == rtmp.TypeCommandAMF0 || m.Type == rtmp.TypeCommandAMF3:
			if cmd, err := rtmp.ParseCommand(m); err == nil && cmd.IsUnpublish() {
				return nil
			}
		}
	}
}

var errDropped = errors.New("publisher dropped by the transcoder")
