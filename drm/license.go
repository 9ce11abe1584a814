package drm

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// maxLicenseRequest bounds a ClearKey request body; a real one is ~100 bytes.
const maxLicenseRequest = 16 << 10

// KeyReader is what the license endpoints need of the key service.
type KeyReader interface {
	Key(ctx context.Context, jobID string) (*JobKey, error)
}

var _ KeyReader = (*KeyService)(nil)

// License serves the player-facing key endpoints:
//
//	POST /drm/clearkey/<job id>        W3C ClearKey license (JSON in, JWK set out)
//	GET  /drm/key/<job id>?token=T     HLS AES-128 / SAMPLE-AES key, 16 raw bytes
//
// Both are public (players carry no API token) and CORS-open; what guards
// them is the key id a player must already know, or the per-job token in
// the playlist.
type License struct {
	Keys KeyReader
	Log  *slog.Logger
}

// clearKeyRequest is the W3C EME ClearKey license request.
type clearKeyRequest struct {
	Kids []string `json:"kids"`
	Type string   `json:"type"`
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	K   string `json:"k"`
}

type clearKeyResponse struct {
	Keys []jwk  `json:"keys"`
	Type string `json:"type"`
}

// ServeClearKey answers a ClearKey license request for jobID with the keys
// of the requested ids that the job has; unknown ids get no key.
func (l *License) ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) {
	cors(w)
	var req clearKeyRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxLicenseRequest)).Decode(&req); err != nil {
		licenseError(w, "body must be a ClearKey license request: {\"kids\":[...],\"type\":\"temporary\"}", http.StatusBadRequest)
		return
	}
	k, ok := l.jobKey(w, r, jobID)
	if !ok {
		return
	}
	if k.NoClearKey {
		licenseError(w, "ClearKey is disabled for this job", http.StatusForbidden)
		return
	}
	resp := clearKeyResponse{Keys: []jwk{}, Type: "temporary"}
	if req.Type == "persistent-license" {
		resp.Type = req.Type
	}
	for _, kid := range req.Kids {
		raw, err := base64.RawURLEncoding.DecodeString(kid)
		if err == nil && subtle.ConstantTimeCompare(raw, k.KID[:]) == 1 {
			resp.Keys = append(resp.Keys, jwk{Kty: "oct", Kid: k.KID.Base64URL(), K: base64.RawURLEncoding.EncodeToString(k.Key[:])})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// ServeHLSKey answers an HLS key URI: the raw 16-byte key, to holders of the
// job's token only.
func (l *License) ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) {
	cors(w)
	k, ok := l.jobKey(w, r, jobID)
	if !ok {
		return
	}
	tok := r.URL.Query().Get("token")
	if k.NoClearKey || subtle.ConstantTimeCompare([]byte(tok), []byte(k.Token)) != 1 {
		licenseError(w, "a valid key token is required", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(k.Key[:])
}

func (l *License) jobKey(w http.ResponseWriter, r *http.Request, jobID string) (*JobKey, bool) {
	k, err := l.Keys.Key(r.Context(), jobID)
	switch {
	case errors.Is(err, ErrNoKey):
		licenseError(w, "no key for this job", http.StatusNotFound)
		return nil, false
	case err != nil:
		l.logger().Error("drm: read key failed", "job_id", jobID, "err", err)
		licenseError(w, "key service unavailable", http.StatusServiceUnavailable)
		return nil, false
	}
	return k, true
}

func (l *License) logger() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.Default()
}

// cors lets any page's player fetch licenses; responses are never cached.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
}

func licenseError(w http.ResponseWriter, msg string, code int) {
	http.Error(w, msg, code)
}
