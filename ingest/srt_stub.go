//go:build !srt || !cgo

package ingest

import "errors"

// SRTAvailable reports whether this build can serve SRT (built with -tags srt).
const SRTAvailable = false

// ErrSRTUnavailable is returned by ServeSRT in builds without libsrt.
var ErrSRTUnavailable = errors.New("ingest: SRT needs a build with -tags srt and libsrt (Debian libsrt-gnutls-dev)")

// ServeSRT is unavailable in this build; see ErrSRTUnavailable.
func (g *Gateway) ServeSRT(addr string) error { return ErrSRTUnavailable }
