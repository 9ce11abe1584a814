//go:build srt && cgo

package ingest

/*
#cgo pkg-config: srt
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <srt/srt.h>
#include <srt/access_control.h>

extern int ezliveSRTHook(uintptr_t gw, SRTSOCKET ns, char* ip, char* streamid);

static void ntop(const struct sockaddr* peer, char* ip, int len) {
	ip[0] = 0;
	if (peer && peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in*)peer)->sin_addr, ip, len);
	else if (peer && peer->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6*)peer)->sin6_addr, ip, len);
}

static int hook(void* opaq, SRTSOCKET ns, int hsversion, const struct sockaddr* peer, const char* streamid) {
	char ip[INET6_ADDRSTRLEN];
	ntop(peer, ip, sizeof ip);
	return ezliveSRTHook((uintptr_t)opaq, ns, ip, (char*)streamid);
}

static void peer_ip(SRTSOCKET s, char* ip, int len) {
	struct sockaddr_storage sa;
	int n = sizeof sa;
	if (srt_getpeername(s, (struct sockaddr*)&sa, &n) == SRT_ERROR) {
		ip[0] = 0;
		return;
	}
	ntop((struct sockaddr*)&sa, ip, len);
}

static SRTSOCKET listen_on(const char* ip, int port, uintptr_t gw, int backlog) {
	SRTSOCKET s = srt_create_socket();
	if (s == SRT_INVALID_SOCK) return s;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1
		|| srt_bind(s, (struct sockaddr*)&sa, sizeof sa) == SRT_ERROR
		|| srt_listen_callback(s, hook, (void*)gw) == SRT_ERROR
		|| srt_listen(s, backlog) == SRT_ERROR) {
		srt_close(s);
		return SRT_INVALID_SOCK;
	}
	return s;
}

static int set_string(SRTSOCKET s, SRT_SOCKOPT opt, const char* v) {
	return srt_setsockflag(s, opt, v, (int)strlen(v));
}

static int set_int(SRTSOCKET s, SRT_SOCKOPT opt, int v) {
	return srt_setsockflag(s, opt, &v, sizeof v);
}

static int get_streamid(SRTSOCKET s, char* buf, int len) {
	int n = len;
	if (srt_getsockflag(s, SRTO_STREAMID, buf, &n) == SRT_ERROR) return -1;
	return n;
}
*/
import "C"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/rtmp"
)

// SRTAvailable reports whether this build can serve SRT (built with -tags srt).
const SRTAvailable = true

var srtStartup sync.Once

// ServeSRT serves SRT publishers on the UDP address addr until Close. The
// stream key is the SRT streamid (plain, or "#!::r=<key>,m=publish"); it is
// checked in libsrt's listen callback, so an unknown key is rejected during
// the SRT handshake and no packet is accepted. The callback also gives the
// connection its job's passphrase (Target.SRTPassphrase), so libsrt then
// completes the handshake only with a publisher that encrypts with that
// passphrase. Accepted streams (MPEG-TS) are remuxed to RTMP by an ffmpeg
// per publisher ("-c copy") and published to the job's transcoder; like an
// RTMP relay, each holds its key's publish lock while it runs and ends
// when the key is rotated or the job stops or moves (watching).
func (g *Gateway) ServeSRT(addr string) error {
	srtStartup.Do(func() {
		C.srt_startup()
		C.srt_setloglevel(2) // LOG_CRIT: refusals are logged here, with reasons
	})
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ingest: srt address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	h := cgo.NewHandle(g)
	defer h.Delete()
	chost := C.CString(host)
	defer C.free(unsafe.Pointer(chost))
	lsn := C.listen_on(chost, C.int(port), C.uintptr_t(h), 16)
	if lsn < 0 {
		return fmt.Errorf("ingest: srt listen %s: %s", addr, C.GoString(C.srt_getlasterror_str()))
	}
	closer := &srtCloser{s: lsn}
	if !g.track(closer) {
		closer.Close()
		return net.ErrClosed
	}
	g.log.Info("ingest gateway listening", "addr", addr, "protocol", "srt")
	for {
		s := C.srt_accept(lsn, nil, nil)
		if s < 0 {
			if g.isClosed() {
				return nil
			}
			return fmt.Errorf("ingest: srt accept: %s", C.GoString(C.srt_getlasterror_str()))
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer C.srt_close(s)
			g.serveSRT(s)
		}()
	}
}

// srtCloser lets Close stop an SRT listener like a net.Listener.
type srtCloser struct {
	net.Listener // nil: only Close is used
	s            C.SRTSOCKET
}

func (c *srtCloser) Close() error { C.srt_close(c.s); return nil }

//export ezliveSRTHook
func ezliveSRTHook(gw C.uintptr_t, ns C.SRTSOCKET, ip, streamid *C.char) C.int {
	g := cgo.Handle(gw).Value().(*Gateway)
	addr := C.GoString(ip)
	if !g.limiter.allow(addr, time.Now()) {
		g.rateLimited(addr, g.log.With("protocol", "srt", "remote", addr))
		C.srt_setrejectreason(ns, C.SRT_REJX_OVERLOAD)
		return -1
	}
	key := srtStreamKey(C.GoString(streamid))
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DialTimeout)
	defer cancel()
	target, err := g.cfg.Resolver.Resolve(ctx, key)
	if err != nil {
		r := resolveRefusal(err)
		g.refuse(addr, r.reason)
		g.log.Warn("ingest refused", "protocol", "srt", "remote", addr, "stream_key", jobspec.MaskStreamKey(key), "reason", r.reason, "err", err)
		C.srt_setrejectreason(ns, C.SRT_REJX_FORBIDDEN)
		return -1
	}
	if p := cmp.Or(target.SRTPassphrase, g.cfg.SRTPassphrase); p != "" {
		return requirePassphrase(ns, p)
	}
	return 0
}

// requirePassphrase makes libsrt complete the handshake of ns only with a
// caller that encrypts with p: with SRTO_ENFORCEDENCRYPTION (on by default)
// a wrong passphrase or none fails it (SRT_REJ_BADSECRET, SRT_REJ_UNSECURE).
// Those refusals happen inside libsrt, after this callback: the gateway
// neither counts nor rate-limits them.
func requirePassphrase(ns C.SRTSOCKET, p string) C.int {
	cp := C.CString(p)
	defer C.free(unsafe.Pointer(cp))
	if C.set_string(ns, C.SRTO_PASSPHRASE, cp) < 0 {
		C.srt_setrejectreason(ns, C.SRT_REJX_ISE)
		return -1
	}
	return 0
}

// srtStreamKey takes the key from a plain streamid or from the SRT access
// control syntax "#!::r=<key>,m=publish".
func srtStreamKey(streamid string) string {
	rest, ok := strings.CutPrefix(streamid, "#!::")
	if !ok {
		return rtmp.StripQuery(streamid)
	}
	for _, kv := range strings.Split(rest, ",") {
		if v, ok := strings.CutPrefix(kv, "r="); ok {
			return v
		}
	}
	return ""
}

func (g *Gateway) serveSRT(s C.SRTSOCKET) {
	var buf [600]C.char
	n := C.get_streamid(s, &buf[0], C.int(len(buf)))
	if n < 0 {
		return
	}
	key := srtStreamKey(C.GoStringN(&buf[0], n))
	var ipBuf [C.INET6_ADDRSTRLEN]C.char
	C.peer_ip(s, &ipBuf[0], C.int(len(ipBuf)))
	ip := C.GoString(&ipBuf[0])
	log := g.log.With("protocol", "srt", "remote", ip, "stream_key", jobspec.MaskStreamKey(key))
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DialTimeout)
	target, err := g.cfg.Resolver.Resolve(ctx, key)
	cancel()
	if err != nil { // the job stopped between the hook and the accept
		r := resolveRefusal(err)
		g.refuse(ip, r.reason)
		log.Warn("ingest refused", "reason", r.reason, "err", err)
		return
	}
	owner, ok, err := g.acquire(context.Background(), key, "srt-")
	if err != nil || !ok {
		g.refuse(ip, ReasonBusy)
		log.Warn("ingest refused", "reason", ReasonBusy, "err", err)
		return
	}
	log = log.With("job_id", target.JobID)
	// Closing s ends copySRT's read, and so the remux, as closing the
	// transcoder's connection ends an RTMP relay.
	release := sync.OnceFunc(g.watching(key, owner, target, func() { C.srt_close(s) }, log))
	defer release()
	C.set_int(s, C.SRTO_RCVTIMEO, C.int(g.cfg.IdleTimeout.Milliseconds()))
	g.remux(s, target, release, log)
}

// remux pipes the SRT payload (MPEG-TS) into an ffmpeg that publishes it to
// the transcoder over RTMP without re-encoding.
// release frees the stream key before the publisher stops counting (see relay).
func (g *Gateway) remux(s C.SRTSOCKET, target Target, release func(), log *slog.Logger) {
	url := fmt.Sprintf("rtmp://%s/%s/%s", target.Addr, target.App, target.StreamName)
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "mpegts", "-i", "pipe:0", "-c", "copy", "-f", "flv", url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Error("srt remux", "err", err)
		return
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		log.Error("srt remux: start ffmpeg", "err", err)
		return
	}
	g.accepted.Add(1)
	g.active.Add(1)
	defer g.active.Add(-1)
	defer release()
	log.Info("ingest relaying", "transcoder", target.Addr)
	err = g.copySRT(s, stdin)
	stdin.Close()
	werr := cmd.Wait()
	// ffmpeg's errors name its output URL, which holds the stream key.
	remuxErr := jobspec.MaskStreamKeyIn(stderr.String(), target.StreamName)
	log.Info("ingest relay ended", "encoder_err", quiet(err), "remux_err", errText(werr, remuxErr))
}

func (g *Gateway) copySRT(s C.SRTSOCKET, w io.Writer) error {
	buf := make([]byte, 1500) // one SRT live payload is at most 1456 bytes
	for {
		n := C.srt_recvmsg(s, (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf)))
		if n <= 0 {
			return errors.New(C.GoString(C.srt_getlasterror_str()))
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		g.bytes.Add(uint64(n))
	}
}

func errText(err error, stderr string) any {
	if err == nil {
		return nil
	}
	return strings.TrimSpace(err.Error() + " " + stderr)
}
