package transcoder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/llhls"
)

// relay sits between ffmpeg and the origin on loopback. ffmpeg PUTs and
// DELETEs to it, one connection per request; the relay forwards the writes
// one at a time, in the order their bodies were complete, over keep-alive
// connections, adding the upload token. Why not let ffmpeg talk to the
// origin directly:
//   - ffmpeg 5.1's -http_persistent closes its sockets with the last
//     responses unread; the kernel then resets the connection and the
//     origin loses the final writes (the last segment, ENDLIST). One
//     connection per request to a loopback relay is cheap and loses nothing.
//   - without persistent connections ffmpeg does not wait for responses, so
//     a playlist could reach the origin before the segment it lists. ffmpeg
//     finishes a segment before it writes the manifest listing it, so the
//     order in which bodies complete is the safe order across files; muxers
//     open a segment's connection when the segment starts, so connection
//     order is not. Two writes of one file are ordered by connection: ffmpeg
//     opens the second only after finishing the first, so a version that
//     completes late on a busy machine is recognised as stale and dropped.
//   - the upload token stays out of ffmpeg's argv, which any local user can
//     read in /proc.
//   - an ffmpeg that ends on its own (it failed) ends the stream for players
//     (#EXT-X-ENDLIST, a static MPD). Unless the stream really ends (a stop,
//     or the reconnect window passed: stopping is set), the relay holds
//     those back so players keep polling and pick up the next run after its
//     discontinuity.
//
// The relay sees every write's final answer, so it is what records whether
// the origin takes the job's outputs (outputs), for the heartbeats.
//
// With hls set (LL-HLS jobs, jobspec.LowLatencyHLS) the relay writes the
// HLS media playlists itself: it drops the dash muxer's, follows each
// streamed segment's CMAF chunks (package llhls) and publishes a new
// playlist version with every chunk, as a part of its segment.
//
// With streaming set (low-latency jobs) media segments are not buffered:
// each is passed on to the origin chunk by chunk as ffmpeg writes it, so
// players following the segment at the origin get each CMAF chunk about
// when it is encoded. Its place in the write order is still where its body
// ends: the forwarder waits there until the origin has the whole segment,
// so no manifest written after it reaches the origin first.
type relay struct {
	origin string // base URL ending in '/'
	token  string
	client *http.Client
	// streamClient sends streamed segments: no overall timeout, as an
	// upload lasts as long as its segment takes to encode.
	streamClient *http.Client
	log          *slog.Logger
	trace        *chunkTrace // the latency trace (trace.go); nil when off
	ln           net.Listener
	// secret is the first element of every path ffmpeg writes to, new for
	// each transcoder: the relay adds the job's upload token, so a write
	// without the secret (another local process) is refused.
	secret string
	srv    *http.Server

	stopping  atomic.Bool     // a graceful stop: let ffmpeg end the stream
	streaming atomic.Bool     // pass media segments on as they arrive
	hls       *llhls.Packager // LL-HLS media playlists; nil unless enabled
	fenced    atomic.Bool     // another placement owns the job: forward nothing
	bytesOut  atomic.Int64
	outputs   *outputs // how the writes to the origin fare

	conns   atomic.Uint64 // connections accepted so far
	uploads chan upload   // complete writes, in order, for the forwarder
	drained chan struct{}
	closeMu sync.RWMutex // held for reading while sending to uploads
	closed  bool

	heldMu sync.Mutex
	held   map[string][]byte // end-of-stream manifests kept back, by name
}

type upload struct {
	conn         uint64 // the connection's number, in accept order
	method, name string
	body         []byte
	// streamed, for a segment already on its way to the origin, is closed
	// when the origin has answered it.
	streamed <-chan struct{}
}

type connKey struct{}

// maxUpload bounds one buffered file; segments of our ladders stay far below.
const maxUpload = 64 << 20

func startRelay(origin, token string, log *slog.Logger) (*relay, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay listen: %w", err)
	}
	// ExpectContinueTimeout: LL-HLS segment uploads ask for 100 Continue
	// to learn when the origin follows them (llhlsUpload).
	transport := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second, ExpectContinueTimeout: time.Second}
	r := &relay{
		origin: origin, token: token, log: log, ln: ln, secret: hex.EncodeToString(secret),
		client:       &http.Client{Timeout: 15 * time.Second, Transport: transport},
		streamClient: &http.Client{Transport: transport},
		uploads:      make(chan upload, 64), drained: make(chan struct{}),
		held: map[string][]byte{}, outputs: newOutputs(),
	}
	if traceEnabled(log) {
		r.trace = newChunkTrace(log)
	}
	r.srv = &http.Server{
		Handler: r, ReadHeaderTimeout: 10 * time.Second,
		// Runs in the accept loop, so numbers follow connection order.
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, r.conns.Add(1))
		},
	}
	go func() { _ = r.srv.Serve(ln) }()
	go r.forwardAll()
	return r, nil
}

// URL is where ffmpeg writes: the relay's base URL, under its secret,
// ending in '/'.
func (r *relay) URL() string { return "http://" + r.ln.Addr().String() + "/" + r.secret + "/" }

// close stops taking writes and forwards what is queued, waiting at most
// timeout.
func (r *relay) close(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	r.closeMu.Lock()
	r.closed = true
	close(r.uploads)
	r.closeMu.Unlock()
	select {
	case <-r.drained:
	case <-ctx.Done():
		r.log.Warn("relay closed with writes still queued")
	}
	r.client.CloseIdleConnections()
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name, ok := strings.CutPrefix(req.URL.Path, "/"+r.secret+"/")
	if !ok {
		http.Error(w, "not this relay's writer", http.StatusForbidden)
		return
	}
	if name == "" || strings.Contains(name, "/") || strings.Contains(name, "..") {
		http.Error(w, "bad file name", http.StatusBadRequest)
		return
	}
	conn, _ := req.Context().Value(connKey{}).(uint64)
	u := upload{conn: conn, method: req.Method, name: name}
	switch req.Method {
	case http.MethodPut, http.MethodPost:
		if r.trace != nil {
			req.Body = r.trace.body(name, req.Body)
		}
		if r.ownPlaylist(name) {
			r.takeOwnPlaylist(w, req, name)
			return
		}
		if r.streaming.Load() && !isManifest(name) {
			r.stream(w, req, u)
			return
		}
		b, ok := readUpload(w, req)
		if !ok {
			return
		}
		u.method, u.body = http.MethodPut, b
	case http.MethodDelete:
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.enqueue(u)
	// ffmpeg does not wait for this answer; it only must not be an error.
	w.WriteHeader(http.StatusAccepted)
}

// readUpload reads a whole upload from ffmpeg, at most maxUpload bytes; it
// answers the request itself when it cannot.
func readUpload(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(req.Body, maxUpload+1))
	if err != nil || len(b) > maxUpload {
		http.Error(w, "upload unreadable or too large", http.StatusBadRequest)
		return nil, false
	}
	return b, true
}

// enqueue hands a complete write to the forwarder, unless the relay closed.
func (r *relay) enqueue(u upload) {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if !r.closed {
		r.uploads <- u
	}
}

// forwardAll sends the queued writes to the origin one after the other,
// skipping a file version older than one already sent.
func (r *relay) forwardAll() {
	defer close(r.drained)
	newest := map[string]uint64{}
	for u := range r.uploads {
		if u.streamed != nil {
			<-u.streamed // later writes may list this segment
			continue
		}
		if r.fenced.Load() || u.conn < newest[u.name] {
			continue
		}
		if isManifest(u.name) { // segment names are written once
			newest[u.name] = u.conn
		}
		if u.method == http.MethodPut {
			if u.body = r.liveOnly(u.name, u.body); u.body == nil {
				continue
			}
			if strings.HasSuffix(u.name, ".mpd") {
				u.body = r.playerTiming(u.body)
			}
		}
		r.forward(context.Background(), u)
	}
}

// liveOnly removes the end-of-stream markers ffmpeg writes when a publisher
// leaves, unless the job is stopping, and keeps the original back for
// flushHeld. It returns nil for a file not to send now.
func (r *relay) liveOnly(name string, b []byte) []byte {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	delete(r.held, name)
	if r.stopping.Load() {
		return b
	}
	switch {
	case strings.HasSuffix(name, ".m3u8") && bytes.Contains(b, ffmpeg.EndList):
		r.held[name] = b
		return bytes.ReplaceAll(b, ffmpeg.EndList, nil)
	case strings.HasSuffix(name, ".mpd") && bytes.Contains(b, ffmpeg.StaticMPD):
		r.held[name] = b
		return nil
	}
	return b
}

// playerTiming adjusts what ffmpeg 5.1's MPD tells players about timing.
func (r *relay) playerTiming(b []byte) []byte {
	if r.streaming.Load() {
		return ffmpeg.PollEverySegment(b)
	}
	return ffmpeg.BufferOneSegment(b)
}

func isManifest(name string) bool {
	return strings.HasSuffix(name, ".m3u8") || strings.HasSuffix(name, ".mpd")
}

// flushHeld publishes the end-of-stream manifests kept back from the last
// run, for a job stopped while no publisher was connected.
func (r *relay) flushHeld() {
	r.heldMu.Lock()
	held := r.held
	r.held = map[string][]byte{}
	r.heldMu.Unlock()
	for name, b := range held {
		r.forward(context.Background(), upload{method: http.MethodPut, name: name, body: b})
	}
}

// forward sends one write to the origin, retrying transport errors and 5xx
// a few times (PUT and DELETE are idempotent), and records how it ended
// (outputs).
func (r *relay) forward(ctx context.Context, u upload) {
	res := uploadResult{method: u.method, name: u.name, started: time.Now()}
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		res.status, res.err = r.send(ctx, u)
		if res.err == nil && res.status < 500 {
			break
		}
	}
	r.outputs.record(res)
	switch {
	case res.took():
		r.bytesOut.Add(int64(len(u.body)))
	case res.err == nil && res.status < 500:
		r.log.Warn("origin refused a write", "method", u.method, "file", u.name, "status", res.status)
	default:
		r.log.Warn("write to origin failed", "method", u.method, "file", u.name, "err", res.summary())
	}
}

func (r *relay) send(ctx context.Context, u upload) (int, error) {
	var body io.Reader
	if u.method != http.MethodDelete {
		body = bytes.NewReader(u.body)
	}
	return r.sendBody(ctx, r.client, u.method, u.name, body)
}

// sendBody makes one request to the origin and returns its status.
func (r *relay) sendBody(ctx context.Context, c *http.Client, method, name string, body io.Reader) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.origin+name, body)
	if err != nil {
		return 0, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if httptrace.ContextClientTrace(ctx) != nil {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
	return resp.StatusCode, nil
}

// stream passes one segment upload on to the origin as it arrives. A
// stream cannot be retried: the origin drops a segment whose upload failed
// and players skip or retry it. If the origin fails, the rest of ffmpeg's
// body is read and dropped, so ffmpeg carries on with the next segment.
func (r *relay) stream(w http.ResponseWriter, req *http.Request, u upload) {
	if r.fenced.Load() {
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	follow := r.llhlsUpload(u.name)
	go func() {
		ok := r.sendStream(u.name, pr, follow)
		close(done) // first: the forwarder may wait for it while the queue is full
		if follow != nil {
			follow.Close(ok)
		}
	}()
	in := &readErr{r: io.LimitReader(req.Body, maxUpload+1)}
	var dst io.Writer = pw
	if follow != nil {
		dst = io.MultiWriter(pw, follow) // the origin has each byte before the playlist names it
	}
	n, err := io.Copy(dst, in)
	if err != nil && in.err == nil { // the origin went away: drop the rest
		_, _ = io.Copy(io.Discard, in)
	}
	if in.err != nil || n > maxUpload {
		// Abort the upstream request: the origin must not take a part
		// for a whole segment.
		pw.CloseWithError(fmt.Errorf("%w after %d bytes: %v", errBrokeOff, n, in.err))
		<-done
		http.Error(w, "upload unreadable or too large", http.StatusBadRequest)
		return
	}
	_ = pw.Close()
	u.method, u.streamed = http.MethodPut, done
	r.enqueue(u)
	w.WriteHeader(http.StatusAccepted)
}

// sendStream PUTs body to the origin as name, chunk by chunk (chunked
// transfer encoding: net/http flushes each chunk of a request at once),
// and reports whether the origin stored it. With follow set it asks for
// 100 Continue, which the origin sends once readers can follow the upload.
func (r *relay) sendStream(name string, body *io.PipeReader, follow llhls.Upload) bool {
	ctx := context.Background()
	if follow != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got100Continue: follow.AtOrigin})
	}
	counted := &countingReader{r: body}
	res := uploadResult{method: http.MethodPut, name: name, started: time.Now()}
	res.status, res.err = r.sendBody(ctx, r.streamClient, http.MethodPut, name, counted)
	if !errors.Is(res.err, errBrokeOff) { // ffmpeg's failure, not the origin's
		r.outputs.record(res)
	}
	if res.err != nil {
		_ = body.CloseWithError(res.err) // unblock the copy from ffmpeg
		r.log.Warn("streaming a segment to the origin failed", "file", name, "err", res.summary())
		return false
	}
	if !res.took() {
		_ = body.CloseWithError(fmt.Errorf("origin answered %d", res.status))
		r.log.Warn("origin refused a write", "method", http.MethodPut, "file", name, "status", res.status)
		return false
	}
	r.bytesOut.Add(counted.n)
	return true
}

// errBrokeOff aborts a streamed upload whose body ffmpeg did not finish.
var errBrokeOff = errors.New("segment upload from ffmpeg broke off")

// readErr remembers a read error, to tell a broken upload from ffmpeg
// apart from a failed forward.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// enableLLHLS makes the relay write the LL-HLS media playlists of spec,
// numbering segments from the current Unix time (see llhls.Config).
func (r *relay) enableLLHLS(spec jobspec.Spec) {
	o := spec.Output
	r.hls = llhls.NewPackager(llhls.Config{
		TargetDuration: int(math.Round(o.Segment_duration)),
		PartTarget:     ffmpeg.LowLatencyPartTarget(o),
		Window:         jobspec.WindowSegments(o),
		FirstMSN:       time.Now().Unix(),
		Publish: func(name string, body []byte) {
			r.enqueue(upload{method: http.MethodPut, name: name, body: body})
		},
		Logger: r.log,
	})
}

// ownPlaylist reports whether name is a media playlist the relay writes
// itself rather than forwarding ffmpeg's.
func (r *relay) ownPlaylist(name string) bool {
	_, ok := ffmpeg.ParseHLSMediaPlaylist(name)
	return r.hls != nil && ok
}

// takeOwnPlaylist drops ffmpeg's version of a media playlist the relay
// writes; the one at the end of the stream ends the relay's too.
func (r *relay) takeOwnPlaylist(w http.ResponseWriter, req *http.Request, name string) {
	b, ok := readUpload(w, req)
	if !ok {
		return
	}
	if bytes.Contains(b, ffmpeg.EndList) {
		r.hls.End(name)
	}
	w.WriteHeader(http.StatusAccepted)
}

// llhlsUpload returns what follows the upload of name for the LL-HLS
// playlists, or nil when there are none or name is not the dash muxer's.
func (r *relay) llhlsUpload(name string) llhls.Upload {
	if r.hls == nil {
		return nil
	}
	f, ok := ffmpeg.ParseDASHFile(name)
	if !ok {
		return nil
	}
	playlist := ffmpeg.HLSMediaPlaylist(f.Representation)
	if f.Init {
		return r.hls.Init(playlist, name)
	}
	return r.hls.Segment(playlist, f.Run, ffmpeg.DASHInitName(f.Run, f.Representation), name)
}
