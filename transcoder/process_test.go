package transcoder

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// ffmpeg names its input URL, stream key included, in the lines it logs:
// the transcoder masks the key in every line it passes through.
func TestFFmpegLogMasksStreamKey(t *testing.T) {
	t.Parallel()
	const key = "k3yS3cretStreamKey"
	var (
		mu   sync.Mutex
		logs bytes.Buffer
		seen []string
	)
	log := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	script := "echo \"Input #0, flv, from 'rtmp://127.0.0.1:20000/live/" + key + "':\" >&2; " +
		"echo \"[rtmp @ 0x1] Unexpected stream " + key + ", expecting " + key + "\" >&2"
	p, _, err := startFFmpeg("sh", []string{"-c", script}, func(progress) {}, func(l string) {
		mu.Lock()
		seen = append(seen, l)
		mu.Unlock()
	}, key, log)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	mu.Lock()
	defer mu.Unlock()
	out := logs.String() + strings.Join(seen, "\n")
	if strings.Contains(out, key) {
		t.Fatalf("the stream key is in the log:\n%s", out)
	}
	if strings.Count(logs.String(), "k3yS****") != 3 || len(seen) != 2 {
		t.Fatalf("want both lines, masked, logged and passed on; log:\n%s\nlines %q", logs.String(), seen)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
