package apiserver

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// requestNote is filled in by handlers for the access log: the job
// concerned, and the cause of a 5xx that the client is not shown.
type requestNote struct {
	jobID  string
	err    error
	route  string // the matched route's pattern, for metrics
	stream bool   // an event stream: its duration is not a latency
}

type noteKey struct{}

func noteJobID(r *http.Request, id string) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.jobID = id
	}
}

func noteRoute(r *http.Request, route string) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.route = route
	}
}

func noteStream(r *http.Request) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.stream = true
	}
}

func noteError(r *http.Request, err error) {
	if n, ok := r.Context().Value(noteKey{}).(*requestNote); ok {
		n.err = err
	}
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs one line per request, with the job it concerned.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		note := &requestNote{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.httpm.observe(r, note, sw.status, time.Since(start))
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		}
		if note.jobID != "" {
			attrs = append(attrs, slog.String("job_id", note.jobID))
		}
		if note.err != nil {
			attrs = append(attrs, slog.String("err", note.err.Error()))
		}
		s.log.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// cors lets the demo page, served from anywhere, call the API. There are no
// cookies: the token travels in the Authorization header.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Link, Location, Retry-After")
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight for a route that exists (the router
// has already set Allow).
func preflight(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Access-Control-Request-Method") != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", h.Get("Allow"))
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorized reports whether r carries the configured bearer token.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) == 1
}
