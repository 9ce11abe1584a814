// Package ingest owns the ingest gateway: one stable RTMP URL per stream key,
// checked before any byte reaches a transcoder, relayed to the job's current
// transcoder. It resolves keys and locks publishers through interfaces; it
// never reads or writes job records itself.
package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

// Config configures a Gateway. Zero values take the defaults noted.
type Config struct {
	Listen               string // default 127.0.0.1:1935
	Resolver             Resolver
	Locker               PublishLocker // default: a MemoryLocker (one gateway process)
	MaxAttemptsPerMinute int           // failed or refused attempts per source IP; default 30
	IdleTimeout          time.Duration // no media for this long closes a publisher; default 10s
	HandshakeTimeout     time.Duration // handshake through publish; default 10s
	DialTimeout          time.Duration // dial and publish to the transcoder; default 5s
	LockTTL              time.Duration // publish lock lease, renewed at a third; default 10s
	// RecheckInterval is how often a relay checks that its key still
	// leads to its transcoder (rotated key, stopped or moved job); default
	// 2s, at most LockTTL/3.
	RecheckInterval time.Duration
	ChunkSize       uint32      // chunk size towards both peers; default 4096
	Limits          rtmp.Limits // bounds on what a publisher can make us buffer
	// SRTPassphrase is deprecated: every job has its own SRT passphrase
	// (Target.SRTPassphrase). It is required only of SRT publishers of
	// jobs made before that, which have none (10-79 characters; empty:
	// those publish unencrypted).
	SRTPassphrase string
	Logger        *slog.Logger
}

// App is the only RTMP application the gateway accepts.
const App = "live"

// Refusal reasons, as counted in Stats.Refused and logged.
const (
	ReasonRateLimited = "rate_limited"
	ReasonHandshake   = "bad_handshake"
	ReasonProtocol    = "protocol_error"
	ReasonBadApp      = "bad_app"
	ReasonUnknownKey  = "unknown_key"
	ReasonNotActive   = "job_not_active"
	ReasonNotPlaced   = "not_placed"
	ReasonResolve     = "resolve_error"
	ReasonBusy        = "already_publishing"
	ReasonLock        = "lock_error"
	ReasonUpstream    = "transcoder_unreachable"
	ReasonPlay        = "play_refused"
)

// Stats are the gateway's counters, for metrics.
type Stats struct {
	Accepted         uint64            // publishers relayed to a transcoder
	Refused          map[string]uint64 // connections refused, by reason
	ActivePublishers int64
	BytesRelayed     uint64 // media payload bytes sent to transcoders
}

// Gateway is the RTMP ingest gateway.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	limiter *attemptLimiter
	host    string // this machine, in lock owner names
	life    string // this process (pid and a random part), in lock owner names
	seq     atomic.Uint64

	identity string // host and RTMP listen address: the same gateway across restarts; set by Serve

	accepted atomic.Uint64
	active   atomic.Int64
	bytes    atomic.Uint64
	refMu    sync.Mutex
	refused  map[string]uint64

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// New validates cfg and returns a Gateway that serves nothing yet.
func New(cfg Config) (*Gateway, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("ingest: a Resolver is required")
	}
	cfg = withDefaults(cfg)
	host, _ := os.Hostname()
	var rnd [4]byte
	rand.Read(rnd[:])
	return &Gateway{
		cfg:       cfg,
		log:       cfg.Logger,
		limiter:   newAttemptLimiter(cfg.MaxAttemptsPerMinute),
		host:      host,
		life:      strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:]),
		refused:   map[string]uint64{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1935"
	}
	if cfg.Locker == nil {
		cfg.Locker = NewMemoryLocker()
	}
	if cfg.MaxAttemptsPerMinute <= 0 {
		cfg.MaxAttemptsPerMinute = 30
	}
	for _, d := range []*time.Duration{&cfg.IdleTimeout, &cfg.HandshakeTimeout} {
		if *d <= 0 {
			*d = 10 * time.Second
		}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 10 * time.Second
	}
	if cfg.RecheckInterval <= 0 {
		cfg.RecheckInterval = 2 * time.Second
	}
	cfg.RecheckInterval = min(cfg.RecheckInterval, cfg.LockTTL/3)
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// ListenAndServe listens on cfg.Listen and serves until Close.
func (g *Gateway) ListenAndServe() error {
	l, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ingest: listen %s: %w", g.cfg.Listen, err)
	}
	return g.Serve(l)
}

// Serve accepts RTMP connections on l until Close; each is served on its own
// goroutine, and a failing connection affects no other.
func (g *Gateway) Serve(l net.Listener) error {
	if !g.track(l) {
		l.Close()
		return net.ErrClosed
	}
	g.identify(l)
	g.log.Info("ingest gateway listening", "addr", l.Addr().String())
	for {
		nc, err := l.Accept()
		if err != nil {
			if g.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ingest: accept: %w", err)
		}
		if !g.trackConn(nc) {
			nc.Close()
			return nil
		}
		go func() {
			defer g.wg.Done()
			defer g.untrackConn(nc)
			g.serveConn(nc)
		}()
	}
}

// Close stops every listener, drops every connection and waits for their goroutines.
func (g *Gateway) Close() error {
	g.mu.Lock()
	g.closed = true
	for l := range g.listeners {
		l.Close()
	}
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (g *Gateway) Stats() Stats {
	g.refMu.Lock()
	refused := make(map[string]uint64, len(g.refused))
	for k, v := range g.refused {
		refused[k] = v
	}
	g.refMu.Unlock()
	return Stats{Accepted: g.accepted.Load(), Refused: refused, ActivePublishers: g.active.Load(), BytesRelayed: g.bytes.Load()}
}

func (g *Gateway) track(l net.Listener) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.listeners[l] = struct{}{}
	return true
}

// identify names this gateway by its host and RTMP listen address. Only one
// live process can listen on that address of this host, so a lock held
// under this identity by another life is a crashed predecessor's.
func (g *Gateway) identify(l net.Listener) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.identity == "" {
		g.identity = g.host + "|" + l.Addr().String() + "/"
	}
}

// acquire takes the publish lock of key, or takes it over from an earlier
// life of this gateway (kill -9 and restart: its locks outlive it by up to
// LockTTL, and the encoder reconnects at once). It returns the owner name
// the lock is held under.
func (g *Gateway) acquire(ctx context.Context, key, kind string) (string, bool, error) {
	g.mu.Lock()
	identity := g.identity
	g.mu.Unlock()
	known := identity != ""
	if !known {
		identity = g.host + "|/"
	}
	life := identity + g.life + "/"
	owner := fmt.Sprintf("%s%s%d", life, kind, g.seq.Add(1))
	ok, err := g.cfg.Locker.TryAcquire(ctx, key, owner, g.cfg.LockTTL)
	if ok || err != nil || !known {
		return owner, ok, err
	}
	ok, err = g.cfg.Locker.TakeOver(ctx, key, identity, life, owner, g.cfg.LockTTL)
	if ok {
		g.log.Info("publish lock taken over from this gateway's previous run", "stream_key", jobspec.MaskStreamKey(key))
	}
	return owner, ok, err
}

func (g *Gateway) trackConn(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c] = struct{}{}
	g.wg.Add(1)
	return true
}

func (g *Gateway) untrackConn(c net.Conn) {
	c.Close()
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

func (g *Gateway) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// refuse counts a refusal of a publisher at ip; one that was the
// publisher's doing counts toward its address's limit.
func (g *Gateway) refuse(ip, reason string) {
	g.refMu.Lock()
	g.refused[reason]++
	g.refMu.Unlock()
	if !ourSide[reason] {
		g.limiter.fail(ip, time.Now())
	}
}

// ourSide are the refusals that are no fault of the publisher, which an
// encoder retries through (its job is being placed, Redis or the
// transcoder is unreachable). A refusal by the limit itself does not count
// either, so that an address is let in again a minute after its failures.
var ourSide = map[string]bool{
	ReasonRateLimited: true, ReasonNotPlaced: true, ReasonResolve: true, ReasonLock: true, ReasonUpstream: true,
}

// rateLimited counts a refusal of ip by the limit, and logs it the first
// time and then at most once a minute per address, with the count since
// the last line.
func (g *Gateway) rateLimited(ip string, log *slog.Logger) {
	g.refuse(ip, ReasonRateLimited)
	if n := g.limiter.refused(ip, time.Now()); n > 0 {
		log.Warn("ingest refused", "reason", ReasonRateLimited, "refusals", n,
			"limit", fmt.Sprintf("%d failed attempts a minute", g.cfg.MaxAttemptsPerMinute))
	}
}
