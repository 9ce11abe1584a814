package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

// refusal is a publisher turned away: why (a Stats reason), what the encoder
// is told, and the error behind it for the log.
type refusal struct {
	reason string
	code   string // onStatus or connect _error code; "" when nothing can be sent
	desc   string
	err    error
	// connect, when set, is answered with _error instead of an onStatus.
	connect *rtmp.Command
}

func newRefusal(reason, code, desc string, err error) *refusal {
	return &refusal{reason: reason, code: code, desc: desc, err: err}
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }

// publishRequest is what the negotiation learned from the encoder.
type publishRequest struct {
	streamID uint32
	key      string
}

func (g *Gateway) serveConn(nc net.Conn) {
	start := time.Now()
	remote := nc.RemoteAddr().String()
	log := g.log.With("remote", remote)
	ip, _, _ := net.SplitHostPort(remote)
	if !g.limiter.allow(ip, start) {
		g.rateLimited(ip, log)
		return
	}
	nc.SetDeadline(start.Add(g.cfg.HandshakeTimeout))
	if err := rtmp.ServerHandshake(nc); err != nil {
		g.refuse(ip, ReasonHandshake)
		log.Info("ingest refused", "reason", ReasonHandshake, "err", err)
		return
	}
	c := rtmp.NewConn(nc, g.cfg.Limits)
	req, err := g.negotiate(c)
	if err != nil {
		g.turnAway(c, ip, log, 0, err)
		return
	}
	log = log.With("stream_key", jobspec.MaskStreamKey(req.key))
	nc.SetDeadline(time.Now().Add(g.cfg.DialTimeout + time.Second)) // admit, then the reply
	target, up, unlock, err := g.admit(req, log)
	if err != nil {
		g.turnAway(c, ip, log, req.streamID, err)
		return
	}
	release := sync.OnceFunc(unlock)
	defer release()
	g.relay(c, up, req, target, release, log.With("job_id", target.JobID))
}

// turnAway tells the encoder why (when the protocol allows), counts and logs.
func (g *Gateway) turnAway(c *rtmp.Conn, ip string, log *slog.Logger, streamID uint32, err error) {
	var r *refusal
	if !errors.As(err, &r) {
		r = &refusal{reason: ReasonProtocol, err: err}
	}
	g.refuse(ip, r.reason)
	log.Warn("ingest refused", "reason", r.reason, "err", r.err)
	c.NetConn().SetDeadline(time.Now().Add(time.Second))
	if r.connect != nil {
		c.RejectConnect(r.connect, r.desc)
	} else if r.code != "" {
		c.WriteStatus(streamID, rtmp.Status{Level: "error", Code: r.code, Description: r.desc})
	}
}

// negotiate answers the encoder's commands up to publish (rtmp.AwaitPublish).
// The key is not trusted yet: nothing is dialed here.
func (g *Gateway) negotiate(c *rtmp.Conn) (publishRequest, error) {
	req, err := rtmp.AwaitPublish(c, App, g.cfg.ChunkSize)
	var r *rtmp.Refusal
	if errors.As(err, &r) {
		return publishRequest{}, refusalOf(r)
	}
	return publishRequest{streamID: req.StreamID, key: req.Key}, err
}

// refusalOf names an rtmp negotiation refusal as the gateway counts it.
func refusalOf(r *rtmp.Refusal) *refusal {
	switch r.Kind {
	case rtmp.RefusedBadApp:
		return &refusal{reason: ReasonBadApp, desc: r.Desc, connect: r.Connect,
			err: fmt.Errorf("connect to app %q", jobspec.MaskStreamKey(r.App))}
	case rtmp.RefusedEmptyKey:
		return newRefusal(ReasonUnknownKey, r.Code, ErrUnknownKey.Error(), r.Err)
	case rtmp.RefusedPlay:
		return newRefusal(ReasonPlay, r.Code, r.Desc, r.Err)
	}
	return newRefusal(ReasonProtocol, r.Code, r.Desc, r.Err)
}

// admit resolves the key, takes the publish lock and publishes to the
// transcoder. On success the caller must call unlock when the relay ends.
func (g *Gateway) admit(req publishRequest, log *slog.Logger) (Target, *rtmp.Client, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DialTimeout)
	defer cancel()
	target, err := g.cfg.Resolver.Resolve(ctx, req.key)
	if err != nil {
		return Target{}, nil, nil, resolveRefusal(err)
	}
	owner, ok, err := g.acquire(ctx, req.key, "")
	if err != nil {
		return Target{}, nil, nil, newRefusal(ReasonLock, rtmp.CodePublishFailed, "ingest is unavailable; retry shortly", err)
	}
	if !ok {
		return Target{}, nil, nil, newRefusal(ReasonBusy, rtmp.CodePublishBadName, "this stream key is already publishing", errors.New("another publisher holds the key"))
	}
	up, err := rtmp.DialPublish(ctx, target.Addr, target.App, target.StreamName, g.cfg.ChunkSize)
	if err != nil {
		g.unlock(req.key, owner, log)
		return Target{}, nil, nil, newRefusal(ReasonUpstream, rtmp.CodePublishFailed, "the transcoder is not ready; retry shortly", fmt.Errorf("job %s: %w", target.JobID, err))
	}
	return target, up, g.watching(req.key, owner, target, func() { up.Close() }, log), nil
}

// unlock releases the publish lock of key held by owner.
func (g *Gateway) unlock(key, owner string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.cfg.Locker.Release(ctx, key, owner); err != nil {
		log.Warn("release publish lock", "err", err)
	}
}

// watching renews the publish lock while the relay runs (every LockTTL/3)
// and re-resolves the key every RecheckInterval: a lost lock (another
// gateway took over after an expiry), a revoked key (rotation, which also
// revokes an SRT passphrase), a stopped job or a transcoder that moved
// (re-placement) ends the relay (end), and the encoder reconnects. The
// returned function stops watching and releases the lock.
func (g *Gateway) watching(key, owner string, target Target, end func(), log *slog.Logger) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(g.cfg.RecheckInterval)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			renew := time.Since(renewed) >= g.cfg.LockTTL/3-g.cfg.RecheckInterval/2
			if renew {
				renewed = time.Now()
			}
			if why := g.stillValid(key, owner, target, renew); why != "" {
				log.Warn("ending relay", "reason", why)
				end()
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		g.unlock(key, owner, log)
	}
}

// stillValid returns why the relay must end, or "", renewing the publish
// lock first when renew is set. Errors reaching Redis keep the relay going:
// a live stream outlives a blip of the store.
func (g *Gateway) stillValid(key, owner string, target Target, renew bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.LockTTL/3)
	defer cancel()
	if renew && !g.keepLock(ctx, key, owner) {
		return "publish lock lost"
	}
	now, err := g.cfg.Resolver.Resolve(ctx, key)
	if r := resolveRefusal(err); err != nil && r.reason != ReasonResolve {
		return r.reason
	}
	if err == nil && now.Addr != target.Addr {
		return "the job moved to " + now.Addr
	}
	return ""
}

// keepLock renews the publish lock; when it has expired meanwhile (the
// store was down for longer than its TTL) and nobody else took it, it is
// taken again under the same owner. It reports false only when another
// publisher holds the key now. Errors reaching the store keep it.
func (g *Gateway) keepLock(ctx context.Context, key, owner string) bool {
	ok, err := g.cfg.Locker.Renew(ctx, key, owner, g.cfg.LockTTL)
	if err != nil || ok {
		return true
	}
	again, err := g.cfg.Locker.TryAcquire(ctx, key, owner, g.cfg.LockTTL)
	if err == nil && again {
		g.log.Info("publish lock had expired; taken again", "stream_key", jobspec.MaskStreamKey(key))
	}
	return err != nil || again
}

func resolveRefusal(err error) *refusal {
	for _, r := range []struct {
		target error
		reason string
	}{{ErrUnknownKey, ReasonUnknownKey}, {ErrJobNotActive, ReasonNotActive}, {ErrNotPlaced, ReasonNotPlaced}} {
		if errors.Is(err, r.target) {
			return newRefusal(r.reason, rtmp.CodePublishBadName, r.target.Error(), err)
		}
	}
	return newRefusal(ReasonResolve, rtmp.CodePublishFailed, "ingest is unavailable; retry shortly", err)
}
