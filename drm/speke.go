package drm

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"net/http"
	"time"
)

// spekeVersion is sent as X-Speke-Version; with CPIX@version 2.3 it is
// SPEKE v2.0.
const spekeVersion = "2.0"

// maxCPIXResponse bounds a key server's answer.
const maxCPIXResponse = 1 << 20

// SPEKEClient is a KeyProvider that asks a SPEKE v2 key server (the DRM
// vendor's, for Widevine, PlayReady, FairPlay) for content keys: one HTTP
// POST of a CPIX 2.3 document per job.
type SPEKEClient struct {
	URL    string       // the key server's SPEKE v2 endpoint
	Client *http.Client // nil: a client with a 10 s timeout
	// Header is added to every request (the vendor's authentication,
	// e.g. Authorization or x-api-key).
	Header http.Header
	// DeliveryCert and DeliveryKey, when set, ask for encrypted content
	// keys: the DER certificate goes in DeliveryDataList, the key opens the
	// document key of the answer.
	DeliveryCert []byte
	DeliveryKey  *rsa.PrivateKey
}

var _ KeyProvider = (*SPEKEClient)(nil)

// ContentKey sends req as a CPIX request and reads the key and each DRM
// system's signalling from the answer.
func (c *SPEKEClient) ContentKey(ctx context.Context, req KeyRequest) (*ContentKey, error) {
	body, err := cpixRequestFor(req, c.DeliveryCert)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("speke request: %w", err)
	}
	for k, v := range c.Header {
		hr.Header[k] = v
	}
	hr.Header.Set("Content-Type", "application/xml")
	hr.Header.Set("X-Speke-Version", spekeVersion)
	resp, err := c.client().Do(hr)
	if err != nil {
		return nil, fmt.Errorf("speke request to %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxCPIXResponse))
	if err != nil {
		return nil, fmt.Errorf("speke response from %s: %w", c.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("speke key server %s answered %s: %.200s", c.URL, resp.Status, answer)
	}
	return parseCPIXResponse(answer, req, c.DeliveryKey)
}

func (c *SPEKEClient) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}
