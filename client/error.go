package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// APIError is an answer other than 2xx: the server's problem details
// (RFC 9457), or the status and body of whatever else answered.
type APIError struct {
	Status int
	Type   string
	Title  string
	Detail string
	Code   string               // the application error code (jobspec.EINVALID, ...)
	State  jobspec.State        // a 409's current state of the job
	Fields []jobspec.FieldError // every bad field of a 400
}

// Error names the status, the detail and every bad field.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for i, f := range e.Fields {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + f.Field + ": " + f.Message)
	}
	return b.String()
}

// problem is the server's error body.
type problem struct {
	Type   string               `json:"type"`
	Title  string               `json:"title"`
	Status int                  `json:"status"`
	Detail string               `json:"detail"`
	Code   string               `json:"code"`
	State  jobspec.State        `json:"state"`
	Errors []jobspec.FieldError `json:"errors"`
}

func apiError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	var p problem
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Unmarshal(body, &p) == nil && p.Status != 0 {
		e.Type, e.Code, e.State, e.Fields = p.Type, p.Code, p.State, p.Errors
		if p.Title != "" {
			e.Title = p.Title
		}
		e.Detail = p.Detail
		return e
	}
	e.Detail = strings.TrimSpace(string(body))
	if len(e.Detail) > 200 {
		e.Detail = e.Detail[:200] + "…"
	}
	return e
}
