package origin

import (
	"net/http"
	"time"
)

// TimePath is the origin's clock. Low-latency MPDs name it in UTCTiming
// (ffmpeg writes the scheme urn:mpeg:dash:utc:http-xsdate:2014; the answer
// also fits http-iso:2014): players compute which chunk exists from the
// wall clock, so theirs must agree with the packager's to well under a
// fragment, and a viewer's clock is often seconds off.
const TimePath = "/time"

// timeLayout is xs:dateTime in UTC with milliseconds: ISO 8601, and what
// both DASH schemes accept.
const timeLayout = "2006-01-02T15:04:05.000Z"

// serveTime answers GET /time with the current UTC time. It is never
// cached: a cached clock is a wrong clock. CORS is set by ServeHTTP.
func (s *Server) serveTime(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		preflight(w, r)
		return
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := time.Now().UTC().Format(timeLayout)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(now))
	}
}
