package jobspec

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes of the application, mapped to HTTP statuses in one place
// (apiserver).
const (
	EINVALID     = "invalid"     // 400
	EFORBIDDEN   = "forbidden"   // 403: known, but not for this requester
	ENOTFOUND    = "not_found"   // 404
	ECONFLICT    = "conflict"    // 409
	ELIMIT       = "limit"       // 429: a queue or quota limit refuses it for now
	EUNAVAILABLE = "unavailable" // 503
	EINTERNAL    = "internal"    // 500
)

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`   // e.g. Output.Video_outputs[1].Bitrate
	Message string `json:"message"` // a sentence a user understands
}

// Error is the application error: a code, a message, and for EINVALID every
// bad field.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL when it carries none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
