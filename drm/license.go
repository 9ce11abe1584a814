package drm

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// maxLicenseRequest bounds a ClearKey request body; a real one is ~100 bytes.
const maxLicenseRequest = 16 << 10

// maxKidErrors bounds the bad key ids a 400 names one by one, so that a
// body of thousands of them does not get an answer larger still.
const maxKidErrors = 8

// KeyReader is what the license endpoints need of the key service.
type KeyReader interface {
	Key(ctx context.Context, jobID string) (*JobKey, error)
}

var _ KeyReader = (*KeyService)(nil)

// ViewerTokens checks viewer tokens (playback.Signer does).
type ViewerTokens interface {
	ValidToken(ctx context.Context, token, jobID string) bool
}

// License serves the player-facing key endpoints:
//
//	POST /drm/clearkey/<job id>?token=T   W3C ClearKey license (JSON in, JWK set out)
//	GET  /drm/key/<job id>?token=T        HLS AES-128 / SAMPLE-AES key, 16 raw bytes
//
// Both are public (players carry no API token) and CORS-open; what guards
// them is the viewer token T for the job (package playback), which the
// origin writes into the license and key URIs of the manifests it serves
// under its /play/<token>/ paths. The token is checked first, before the
// job is looked up: without a valid one, a DRM job, a job without DRM and
// an unknown id get the same refusal.
//
// They write their answer only when they succeed. A failure is returned
// for the caller (apiserver) to answer: a *jobspec.Error (EFORBIDDEN,
// EINVALID naming the bad fields of the request, ENOTFOUND, EUNAVAILABLE),
// an *http.MaxBytesError, or anything else for an internal error. No error
// carries a key.
type License struct {
	Keys    KeyReader
	Viewers ViewerTokens // nil: every request is refused
}

// refused refuses a key to a requester who may not have it: a missing or
// wrong viewer token, or a job whose keys only a commercial DRM system's
// license server hands out.
func refused(reason string) error { return jobspec.Errorf(jobspec.EFORBIDDEN, "%s", reason) }

// errNoViewerToken is the one answer to a request without a valid token,
// whatever the job.
var errNoViewerToken = refused("a valid viewer token for this job is required: the token parameter of the license or key URI in a manifest played from the origin's /play/<token>/ URL (POST /jobs/<id>/playback_tokens)")

// clearKeyRequest is a valid W3C EME ClearKey license request.
type clearKeyRequest struct {
	Kids []KID
	Type string // "temporary" or "persistent-license"
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
func (l *License) ServeClearKey(w http.ResponseWriter, r *http.Request, jobID string) error {
	cors(w)
	if !l.viewer(r, jobID) {
		return errNoViewerToken
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLicenseRequest))
	if err != nil {
		return fmt.Errorf("read license request: %w", err)
	}
	req, err := parseClearKeyRequest(body)
	if err != nil {
		return err
	}
	k, err := l.jobKey(r.Context(), jobID)
	if err != nil {
		return err
	}
	if k.NoClearKey {
		return refused("ClearKey is disabled for this job")
	}
	resp := clearKeyResponse{Keys: []jwk{}, Type: req.Type}
	for _, kid := range req.Kids {
		if subtle.ConstantTimeCompare(kid[:], k.KID[:]) == 1 {
			resp.Keys = append(resp.Keys, jwk{Kty: "oct", Kid: k.KID.Base64URL(), K: base64.RawURLEncoding.EncodeToString(k.Key[:])})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
	return nil
}

// parseClearKeyRequest reads {"kids":[...],"type":"temporary"}, naming
// every bad field: kids is required, each a 16-byte key id in unpadded
// base64url; type, when given, is "temporary" or "persistent-license".
func parseClearKeyRequest(body []byte) (clearKeyRequest, error) {
	var raw struct {
		Kids json.RawMessage `json:"kids"`
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return clearKeyRequest{}, jobspec.Errorf(jobspec.EINVALID,
			`the body is not a ClearKey license request such as {"kids":["<key id>"],"type":"temporary"}: %v`, err)
	}
	req := clearKeyRequest{Type: "temporary"}
	var bad []jobspec.FieldError
	kids, fields := parseKids(raw.Kids)
	req.Kids, bad = kids, append(bad, fields...)
	if !isNull(raw.Type) {
		var typ string
		if err := json.Unmarshal(raw.Type, &typ); err != nil || typ != "temporary" && typ != "persistent-license" {
			bad = append(bad, jobspec.FieldError{Field: "type", Message: `must be "temporary" or "persistent-license"`})
		}
		req.Type = typ
	}
	if len(bad) > 0 {
		return clearKeyRequest{}, &jobspec.Error{Code: jobspec.EINVALID, Message: "invalid ClearKey license request", Fields: bad}
	}
	return req, nil
}

// parseKids reads the kids of a license request; a bad one is named by its
// index, the first maxKidErrors of them.
func parseKids(raw json.RawMessage) ([]KID, []jobspec.FieldError) {
	const form = "16 bytes in unpadded base64url (22 characters)"
	if isNull(raw) {
		return nil, []jobspec.FieldError{{Field: "kids", Message: "is required: the key ids to license, each " + form}}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, []jobspec.FieldError{{Field: "kids", Message: "must be an array of key ids, each " + form}}
	}
	kids := make([]KID, 0, len(items))
	var bad []jobspec.FieldError
	nbad := 0
	for i, item := range items {
		kid, ok := parseKID(item)
		if ok {
			kids = append(kids, kid)
			continue
		}
		if nbad++; nbad <= maxKidErrors {
			bad = append(bad, jobspec.FieldError{Field: fmt.Sprintf("kids[%d]", i), Message: "is not a key id: " + form})
		}
	}
	if nbad > maxKidErrors {
		bad = append(bad, jobspec.FieldError{Field: "kids", Message: fmt.Sprintf("%d more key ids are not valid", nbad-maxKidErrors)})
	}
	return kids, bad
}

func parseKID(item json.RawMessage) (KID, bool) {
	var kid KID
	var s string
	if json.Unmarshal(item, &s) != nil {
		return kid, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != len(kid) {
		return kid, false
	}
	copy(kid[:], raw)
	return kid, true
}

// isNull reports whether a field was left out or is null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// ServeHLSKey answers an HLS key URI: the raw 16-byte key, to holders of a
// viewer token for the job only.
func (l *License) ServeHLSKey(w http.ResponseWriter, r *http.Request, jobID string) error {
	cors(w)
	if !l.viewer(r, jobID) {
		return errNoViewerToken
	}
	k, err := l.jobKey(r.Context(), jobID)
	if err != nil {
		return err
	}
	if k.NoClearKey {
		return refused("ClearKey is disabled for this job")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(k.Key[:])
	return nil
}

// viewer reports whether the request carries a valid viewer token for jobID.
func (l *License) viewer(r *http.Request, jobID string) bool {
	return l.Viewers != nil && l.Viewers.ValidToken(r.Context(), r.URL.Query().Get("token"), jobID)
}

// jobKey reads the job's key; a job without one is ENOTFOUND (only a
// viewer of the job learns that it has no DRM).
func (l *License) jobKey(ctx context.Context, jobID string) (*JobKey, error) {
	k, err := l.Keys.Key(ctx, jobID)
	if errors.Is(err, ErrNoKey) {
		return nil, jobspec.Errorf(jobspec.ENOTFOUND, "no key for this job: %s is not a DRM job, or was deleted", jobID)
	}
	return k, err
}

// cors lets any page's player fetch licenses; responses are never cached.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
}
