package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"

	"github.com/ezlivestreaming/ezlive/store"
)

// RetryAfterSeconds is the Retry-After of a 429: about the time a waiting
// job takes to be placed once capacity appears, or a client to stop and
// delete a job.
const RetryAfterSeconds = 30

// admission is what a job created by r must fit in.
func (s *Server) admission(r *http.Request) store.Admission {
	return store.Admission{Client: s.clientOf(r), MaxQueued: s.cfg.MaxQueued, ClientQuota: s.cfg.ClientQuota}
}

// clientOf names who sent r, for the quota: the API token when one is
// required (a digest of it: Redis never holds the token), else the remote
// address without its port. Forwarding headers are not trusted: behind a
// proxy, every client is the proxy's address.
func (s *Server) clientOf(r *http.Request) string {
	if s.cfg.Token != "" {
		sum := sha256.Sum256([]byte(s.cfg.Token))
		return "token:" + hex.EncodeToString(sum[:8])
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}
