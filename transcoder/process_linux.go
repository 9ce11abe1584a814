package transcoder

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/ezlivestreaming/ezlive/jobspec"
)

// ffmpegProc is one running ffmpeg. It runs in its own process group with
// SIGKILL as its parent-death signal, so it dies with the transcoder even
// when the transcoder is killed with SIGKILL.
type ffmpegProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when ffmpeg has exited and its output is read
	wait error
}

// startFFmpeg runs ffmpeg with its standard input to write to; onProgress
// gets its -progress blocks and onMessage every line it logs (after it is
// logged here), with streamKey masked.
func startFFmpeg(path string, args []string, onProgress func(progress), onMessage func(string), streamKey string, log *slog.Logger) (*ffmpegProc, io.WriteCloser, error) {
	cmd := exec.Command(path, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = &lineWriter{line: newProgressReader(onProgress).line}
	cmd.Stderr = &lineWriter{line: func(l string) {
		l = jobspec.MaskStreamKeyIn(l, streamKey)
		log.Info("ffmpeg", "msg", l)
		onMessage(l)
	}}
	p := &ffmpegProc{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that started the
		// child exits, not the process: keep this thread for the child's
		// whole life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start ffmpeg: %w", err)
			return
		}
		started <- nil
		p.wait = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, nil, err
	}
	return p, stdin, nil
}

func (p *ffmpegProc) pid() int { return p.cmd.Process.Pid }

// err is ffmpeg's exit error; nil for status 0 (its input ended).
func (p *ffmpegProc) err() error {
	if p.wait != nil {
		return fmt.Errorf("ffmpeg: %w", p.wait)
	}
	return nil
}

// stop asks ffmpeg to finish: the first SIGINT makes it flush the last
// segment and finalise the manifests; a second one, half the timeout later,
// aborts I/O it is blocked in (an origin that does not answer); at the
// timeout its process group is killed.
func (p *ffmpegProc) stop(timeout time.Duration) {
	for range 2 {
		_ = syscall.Kill(p.pid(), syscall.SIGINT)
		select {
		case <-p.done:
			return
		case <-time.After(timeout / 2):
		}
	}
	p.kill()
}

// kill ends ffmpeg's process group at once and waits for it.
func (p *ffmpegProc) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		if l := string(bytes.TrimSpace(w.buf[:i])); l != "" {
			w.line(l)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a runaway line: drop it
		w.buf = w.buf[:0]
	}
	return len(b), nil
}
