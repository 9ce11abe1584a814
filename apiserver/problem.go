package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// Problem is an RFC 9457 problem details body (application/problem+json).
// Code is the application error code (jobspec.EINVALID, ...), and Errors
// names every bad field of a 400.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Code     string               `json:"code,omitempty"`
	Errors   []jobspec.FieldError `json:"errors,omitempty"`
	State    jobspec.State        `json:"state,omitempty"` // the job's current state on a 409
	Checks   map[string]string    `json:"checks,omitempty"`
	Limit    string               `json:"limit,omitempty"` // the limit a 429 hit: queue or client_quota
}

// ProblemContentType is the media type of every error body.
const ProblemContentType = "application/problem+json"

// httpError is a failure of the HTTP layer itself, with no application
// code: no route, wrong method, missing token, body too large.
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string { return e.detail }

// conflictError is a transition the job's current state forbids; it carries
// the state so the answer can name it.
type conflictError struct {
	state jobspec.State
	msg   string
}

func (e *conflictError) Error() string { return e.msg }

// statusOf maps application error codes to HTTP statuses. It is the only
// place that does.
func statusOf(code string) int {
	switch code {
	case jobspec.EINVALID:
		return http.StatusBadRequest
	case jobspec.EFORBIDDEN:
		return http.StatusForbidden
	case jobspec.ENOTFOUND:
		return http.StatusNotFound
	case jobspec.ECONFLICT:
		return http.StatusConflict
	case jobspec.ELIMIT:
		return http.StatusTooManyRequests
	case jobspec.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// problemOf turns any error a handler returns into the problem to answer.
// Internal errors are not shown to the client (they are logged instead).
func problemOf(err error) Problem {
	var (
		he  *httpError
		ce  *conflictError
		mbe *http.MaxBytesError
		ae  *jobspec.Error
		le  *store.LimitError
	)
	switch {
	case errors.As(err, &he):
		return newProblem(he.status, "", he.detail)
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, "",
			"the request body is larger than "+byteSize(mbe.Limit))
	case errors.As(err, &ce):
		p := newProblem(statusOf(jobspec.ECONFLICT), jobspec.ECONFLICT, ce.msg)
		p.State = ce.state
		return p
	case errors.As(err, &le):
		p := newProblem(statusOf(jobspec.ELIMIT), jobspec.ELIMIT, le.Message)
		p.Limit = le.Limit
		return p
	case errors.As(err, &ae):
		status := statusOf(ae.Code)
		detail := ae.Message
		if status == http.StatusInternalServerError {
			detail = internalDetail
		}
		p := newProblem(status, ae.Code, detail)
		p.Errors = ae.Fields
		return p
	}
	return newProblem(http.StatusInternalServerError, jobspec.EINTERNAL, internalDetail)
}

const internalDetail = "internal error; the server log has the cause"

func newProblem(status int, code, detail string) Problem {
	typ := "about:blank"
	if code != "" {
		typ = "urn:ezlive:problem:" + code
	}
	return Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

// writeProblem answers with p; p.Instance is the request path.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	p.Instance = r.URL.Path
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func byteSize(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
