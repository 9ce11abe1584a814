// Package client is the Go client of the ezlive HTTP API, used by the CLI,
// the tests and the benchmarks. It speaks only HTTP and the wire types of
// packages jobspec and recording; it never touches Redis, the queue or a scheduler.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// Client calls one API server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	// HTTP does the requests; replace it before use to change timeouts or
	// connection pooling.
	HTTP *http.Client
}

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:1080),
// sending token as a bearer token when it is not empty.
func New(baseURL, token string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{
		base:  strings.TrimSuffix(baseURL, "/"),
		token: token,
		HTTP:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// Create submits a live job spec (the original project's JSON). With dryRun
// the server validates it and answers the job it would create, storing
// nothing.
func (c *Client) Create(ctx context.Context, spec []byte, dryRun bool) (*jobspec.LiveJob, error) {
	path := "/jobs"
	if dryRun {
		path += "?dry_run=1"
	}
	var job jobspec.LiveJob
	if _, err := c.do(ctx, http.MethodPost, path, spec, &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// CreateSpec is Create for a spec in hand.
func (c *Client) CreateSpec(ctx context.Context, spec jobspec.Spec, dryRun bool) (*jobspec.LiveJob, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	return c.Create(ctx, body, dryRun)
}

// List returns a page of jobs in creation order, filtered by states when
// any are given (limit 0: the server's default), and the cursor of the next
// page, "" on the last.
func (c *Client) List(ctx context.Context, states []jobspec.State, limit int, cursor string) ([]*jobspec.LiveJob, string, error) {
	v := url.Values{}
	if len(states) > 0 {
		names := make([]string, len(states))
		for i, s := range states {
			names[i] = string(s)
		}
		v.Set("state", strings.Join(names, ","))
	}
	return c.list(ctx, "/jobs", v, limit, cursor)
}

// Active returns a page of the jobs that should be running: created,
// scheduled, running and streaming.
func (c *Client) Active(ctx context.Context, limit int, cursor string) ([]*jobspec.LiveJob, string, error) {
	return c.list(ctx, "/jobs/active", url.Values{}, limit, cursor)
}

func (c *Client) list(ctx context.Context, path string, v url.Values, limit int, cursor string) ([]*jobspec.LiveJob, string, error) {
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var jobs []*jobspec.LiveJob
	h, err := c.do(ctx, http.MethodGet, path, nil, &jobs)
	if err != nil {
		return nil, "", err
	}
	return jobs, nextCursor(h.Get("Link")), nil
}

// nextCursor reads the cursor out of a Link header's rel="next" target.
func nextCursor(link string) string {
	for part := range strings.SplitSeq(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err == nil {
			return u.Query().Get("cursor")
		}
	}
	return ""
}

// Get returns one job.
func (c *Client) Get(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	return c.jobCall(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id))
}

// Stop asks for a job to stop; the answer is the job as it now is
// (stopping: the transcoder stops shortly after).
func (c *Client) Stop(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	return c.jobCall(ctx, http.MethodPut, "/jobs/"+url.PathEscape(id)+"/stop")
}

// Resume starts a stopped or failed job again with the same id, stream key
// and spec.
func (c *Client) Resume(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	return c.jobCall(ctx, http.MethodPut, "/jobs/"+url.PathEscape(id)+"/resume")
}

// Delete removes a stopped or failed job and its outputs; the job is shown
// in state deleting until its record is gone.
func (c *Client) Delete(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	return c.jobCall(ctx, http.MethodDelete, "/jobs/"+url.PathEscape(id))
}

// RotateStreamKey gives a job a new stream key; the old one stops working.
func (c *Client) RotateStreamKey(ctx context.Context, id string) (*jobspec.LiveJob, error) {
	return c.jobCall(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/stream_key")
}

func (c *Client) jobCall(ctx context.Context, method, path string) (*jobspec.LiveJob, error) {
	var job jobspec.LiveJob
	if _, err := c.do(ctx, method, path, nil, &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// StartFeed pushes the demo test pattern into a placed job's ingest.
func (c *Client) StartFeed(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/feed", nil, nil)
	return err
}

// StopFeed stops the demo test pattern of a job.
func (c *Client) StopFeed(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/jobs/"+url.PathEscape(id)+"/feed", nil, nil)
	return err
}

// FeedRunning reports whether the demo test pattern feeds a job.
func (c *Client) FeedRunning(ctx context.Context, id string) (bool, error) {
	var f struct{ Running bool }
	_, err := c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/feed", nil, &f)
	return f.Running, err
}

// Ready returns nil when the server and its Redis and queue answer.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil)
	return err
}

// do sends one request and decodes a 2xx answer into out (when not nil);
// anything else becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.Header, apiError(resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// IsStatus reports whether err is an *APIError with the given status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}
