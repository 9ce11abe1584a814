package origin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Authorizer decides whether token may write the outputs of job jobID.
// It returns nil to allow. Fencing lives here: the scheduler rotates a job's
// upload token at every placement generation, so a stale transcoder's token
// is refused. An error wrapping ErrAuthUnavailable (or a context error) means
// the answer is unknown (e.g. Redis is down): the write gets 503 and the
// answer is not cached; any other error is a refusal (403).
type Authorizer interface {
	AuthorizeUpload(ctx context.Context, jobID, token string) error
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, jobID, token string) error

// AuthorizeUpload calls f.
func (f AuthorizerFunc) AuthorizeUpload(ctx context.Context, jobID, token string) error {
	return f(ctx, jobID, token)
}

// ErrAuthUnavailable is wrapped by an Authorizer that cannot decide now.
var ErrAuthUnavailable = errors.New("upload authorization unavailable")

// authTimeout bounds one Authorizer call so a stuck store cannot pin
// ffmpeg's persistent connection forever.
const authTimeout = 2 * time.Second

// maxAuthEntries bounds the cache; a flood of bogus tokens resets it.
const maxAuthEntries = 4096

type authKey struct{ jobID, token string }

type authEntry struct {
	err     error // nil: allowed
	expires time.Time
}

// authCache reuses an Authorizer's answer for at most ttl, so ffmpeg's
// several requests per segment cost one store lookup per second.
//
// It also fails static: while the Authorizer cannot answer (Redis is
// down), a token it allowed within failStatic is still allowed, so a
// store outage cuts no stream. Fencing holds meanwhile: tokens are rotated
// in the store, which is what is down, so none can be rotated then.
type authCache struct {
	authz      Authorizer
	ttl        time.Duration
	failStatic time.Duration
	now        func() time.Time // time.Now; tests step it

	mu      sync.Mutex
	entries map[authKey]authEntry
	allowed map[authKey]time.Time // when each token was last allowed
}

func newAuthCache(a Authorizer, ttl, failStatic time.Duration) *authCache {
	if ttl == 0 || ttl > defaultAuthCacheTTL {
		ttl = defaultAuthCacheTTL
	}
	return &authCache{authz: a, ttl: ttl, failStatic: failStatic, now: time.Now,
		entries: make(map[authKey]authEntry), allowed: make(map[authKey]time.Time)}
}

func (c *authCache) authorize(ctx context.Context, jobID, token string) error {
	key := authKey{jobID, token}
	now := c.now()
	if c.ttl > 0 {
		c.mu.Lock()
		e, ok := c.entries[key]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	err := c.authz.AuthorizeUpload(ctx, jobID, token)
	switch {
	case err == nil:
		c.allow(key, now)
	case unavailable(err) && c.allowedWithin(key, now):
		return nil
	}
	if c.ttl > 0 && !unavailable(err) {
		c.store(key, authEntry{err: err, expires: now.Add(c.ttl)})
	}
	return err
}

// allow remembers that key was allowed at now.
func (c *authCache) allow(key authKey, now time.Time) {
	if c.failStatic <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.allowed) >= maxAuthEntries {
		for k, at := range c.allowed {
			if now.Sub(at) > c.failStatic {
				delete(c.allowed, k)
			}
		}
		if len(c.allowed) >= maxAuthEntries {
			clear(c.allowed)
		}
	}
	c.allowed[key] = now
}

// allowedWithin reports whether key was allowed within failStatic of now.
func (c *authCache) allowedWithin(key authKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.allowed[key]
	return ok && now.Sub(at) <= c.failStatic
}

func (c *authCache) store(key authKey, e authEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxAuthEntries {
		now := c.now()
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxAuthEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = e
}

func unavailable(err error) bool {
	return errors.Is(err, ErrAuthUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}

// authorizeUpload checks a write's token with the Authorizer. On refusal it
// has answered the request and returns false.
func (s *Server) authorizeUpload(w http.ResponseWriter, r *http.Request, jobID string) bool {
	token, ok := bearerToken(r)
	if !ok {
		unauthorized(w)
		return false
	}
	err := s.auth.authorize(r.Context(), jobID, token)
	switch {
	case err == nil:
		return true
	case unavailable(err):
		s.log.Warn("origin: upload authorization unavailable", "job_id", jobID, "err", err)
		httpError(w, "authorization unavailable", http.StatusServiceUnavailable)
	default:
		s.log.Info("origin: upload refused", "job_id", jobID, "method", r.Method,
			"path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		httpError(w, "forbidden", http.StatusForbidden)
	}
	return false
}

// bearerToken reads "Authorization: Bearer <token>". ffmpeg sends it with
// the hls muxer's -headers, or the dash muxer's
// -http_opts 'headers=Authorization\: Bearer <token>' (5.1's dash muxer has
// no -headers; the colon must be escaped inside the option dictionary).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ezlive-origin"`)
	httpError(w, "missing bearer token", http.StatusUnauthorized)
}
