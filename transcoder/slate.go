package transcoder

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
)

// builtinSlate is the card shown when a job names no slate image: "The
// stream will resume shortly", white on dark blue (0x1d3557), 1280×720.
//
//go:embed slate.png
var builtinSlate []byte

// maxSlateBytes bounds a slate image fetched from the job's Slate_url.
const maxSlateBytes = 20 << 20

// fetchSlate downloads a job's slate image once, when the transcoder
// starts. Unless allowPrivate is set it refuses addresses that are not
// public (loopback, private, link-local: a node's metadata service), so a
// job's spec cannot make the fleet's nodes fetch from inside the network.
func fetchSlate(ctx context.Context, url string, allowPrivate bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: http.ProxyFromEnvironment}}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET slate image: %s", res.Status)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxSlateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSlateBytes {
		return nil, fmt.Errorf("slate image larger than %d MB", maxSlateBytes>>20)
	}
	return b, nil
}

// refusePrivate is a dialer's check of the address it is about to
// connect to, after name resolution and on every redirect.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return fmt.Errorf("slate URL resolves to %s, which is not a public address", ip)
	}
	return nil
}

// A slate is encoded for the shape of the publisher it stands in for
// (ffmpeg.Slate): its picture size and audio format, so that the decoder
// and the filter graph take it without a reconfiguration. A reconfigured
// filter graph loses the frames it holds, and with them the repeated last
// frame.

// slate is one second of the slate as FLV tags with timestamps from 0: an
// AVC configuration, a GOP that starts with a key frame (it loops), an AAC
// configuration and frames of silence.
type slate struct {
	videoConfig tag
	video       []tag
	audioConfig tag
	silence     []tag
	frameMS     float64 // video frame duration
	audioMS     float64 // AAC frame duration (1024 samples)
}

// slates encodes slates for the shapes publishers bring, each once, in the
// background, from one image file.
type slates struct {
	ffmpeg string
	image  string // path of the image file

	mu    sync.Mutex
	ready map[ffmpeg.Slate]*slate
	busy  map[ffmpeg.Slate]chan struct{} // closed when that encode ends
	last  *slate                         // the latest one ready, for a shape not yet encoded
}

// newSlates writes image to dir for ffmpeg to read.
func newSlates(ffmpegPath, dir string, image []byte) (*slates, error) {
	path := filepath.Join(dir, "slate-image")
	if err := os.WriteFile(path, image, 0o600); err != nil {
		return nil, err
	}
	return &slates{ffmpeg: ffmpegPath, image: path, ready: map[ffmpeg.Slate]*slate{}, busy: map[ffmpeg.Slate]chan struct{}{}}, nil
}

// prepare starts encoding the slate of shape unless it is ready or under
// way; log gets the error of an encode that failed.
func (ss *slates) prepare(shape ffmpeg.Slate, log func(error)) {
	ss.mu.Lock()
	if ss.ready[shape] != nil || ss.busy[shape] != nil {
		ss.mu.Unlock()
		return
	}
	done := make(chan struct{})
	ss.busy[shape] = done
	ss.mu.Unlock()
	go func() {
		sl, err := encodeSlate(ss.ffmpeg, ss.image, shape)
		ss.mu.Lock()
		defer ss.mu.Unlock()
		delete(ss.busy, shape)
		close(done)
		if err != nil {
			log(err)
			return
		}
		ss.ready[shape] = sl
		ss.last = sl
	}()
}

// get returns the slate of shape, or the latest ready one (a different
// shape costs a filter graph reconfiguration), or nil.
func (ss *slates) get(shape ffmpeg.Slate) *slate {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if sl := ss.ready[shape]; sl != nil {
		return sl
	}
	return ss.last
}

// wait returns get's answer once the encode of shape under way (if any)
// has ended, waiting at most d.
func (ss *slates) wait(shape ffmpeg.Slate, d time.Duration) *slate {
	ss.mu.Lock()
	done := ss.busy[shape]
	ss.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(d):
		}
	}
	return ss.get(shape)
}

// encodeSlate encodes one second of the image at shape: scaled to fit and
// padded, H.264 with one key frame and no B-frames, and AAC silence.
func encodeSlate(ffmpegPath, image string, shape ffmpeg.Slate) (*slate, error) {
	cmd := exec.Command(ffmpegPath, ffmpeg.SlateArgs(image, shape)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("encode slate %dx%d: %w: %s", shape.Width, shape.Height, err, bytes.TrimSpace(stderr.Bytes()))
	}
	tags, err := readFLV(&out)
	if err != nil {
		return nil, err
	}
	sl := &slate{frameMS: 1000 / shape.Fps, audioMS: 1024 * 1000 / float64(shape.SampleRate)}
	for _, t := range tags {
		switch {
		case t.isVideoConfig():
			sl.videoConfig = t
		case t.isAudioConfig():
			sl.audioConfig = t
		case t.typ == tagVideo && t.isAVC():
			sl.video = append(sl.video, t)
		case t.typ == tagAudio && t.isAAC():
			sl.silence = append(sl.silence, t)
		}
	}
	if sl.videoConfig.body == nil || sl.audioConfig.body == nil || len(sl.video) == 0 || len(sl.silence) < 3 || !sl.video[0].isVideoKeyframe() {
		return nil, errors.New("encode slate: ffmpeg's output lacks a configuration, a key frame or audio")
	}
	// The encoder's first and last AAC frames carry its priming and
	// padding; the middle ones are plain silence, each alone decodable.
	sl.silence = sl.silence[1 : len(sl.silence)-1]
	return sl, nil
}
