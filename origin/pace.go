package origin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Defaults of an upload's pace. ffmpeg's chunked upload of a live segment
// sends a fragment every part or segment (a few seconds at most), and its
// lowest rendition, audio at 32 kbit/s, is 4 kB/s: both are far inside.
const (
	DefaultUploadIdleTimeout = 10 * time.Second
	DefaultUploadMinRate     = 1024 // bytes/s
	DefaultUploadRateWindow  = 10 * time.Second
)

// errUploadTooSlow fails an upload that stalls or trickles; it is answered
// 408, and the readers that follow the upload see it fail (inflight.go), so
// none of them waits longer than the writer may.
var errUploadTooSlow = errors.New("upload too slow")

// pacedBody is an upload's body that fails when no byte arrives for idle,
// or fewer than minBytes arrive in a window. The idle bound is the
// connection's read deadline, moved at every read: no goroutine or timer
// per upload.
type pacedBody struct {
	r           io.Reader
	rc          *http.ResponseController
	idle        time.Duration
	window      time.Duration
	minBytes    int64 // per window
	windowStart time.Time
	inWindow    int64
}

func (s *Server) paced(w http.ResponseWriter, body io.Reader) *pacedBody {
	return &pacedBody{
		r: body, rc: http.NewResponseController(w), idle: s.pace.idle, window: s.pace.window,
		minBytes: int64(float64(s.pace.minRate) * s.pace.window.Seconds()),
	}
}

func (b *pacedBody) Read(p []byte) (int, error) {
	now := time.Now()
	if b.windowStart.IsZero() {
		b.windowStart = now
	}
	if now.Sub(b.windowStart) >= b.window {
		if b.inWindow < b.minBytes {
			return 0, fmt.Errorf("%w: %d bytes in %v", errUploadTooSlow, b.inWindow, now.Sub(b.windowStart).Round(time.Millisecond))
		}
		b.windowStart, b.inWindow = now, 0
	}
	_ = b.rc.SetReadDeadline(now.Add(b.idle)) // unsupported: the minimum rate still holds
	n, err := b.r.Read(p)
	b.inWindow += int64(n)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("%w: no byte for %v", errUploadTooSlow, b.idle)
	}
	return n, err
}

// done lifts the deadline, for the answer and the connection's next request.
func (b *pacedBody) done() { _ = b.rc.SetReadDeadline(time.Time{}) }

// uploadPace is the Server's copy of the Config's pace settings.
type uploadPace struct {
	idle, window time.Duration
	minRate      int64
}

func newUploadPace(cfg Config) uploadPace {
	p := uploadPace{idle: cfg.UploadIdleTimeout, window: cfg.UploadRateWindow, minRate: cfg.UploadMinRate}
	if p.idle <= 0 {
		p.idle = DefaultUploadIdleTimeout
	}
	if p.window <= 0 {
		p.window = DefaultUploadRateWindow
	}
	switch {
	case p.minRate == 0:
		p.minRate = DefaultUploadMinRate
	case p.minRate < 0:
		p.minRate = 0
	}
	return p
}

// answerTooSlow answers 408 and closes the connection: what is left of a
// trickling body is not worth reading.
func answerTooSlow(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	httpError(w, "upload too slow", http.StatusRequestTimeout)
}
