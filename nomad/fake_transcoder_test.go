package nomad_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for `ezlive transcoder`, so the
// driver's real command line runs under nomadtest without the real binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "transcoder" {
		os.Exit(fakeTranscoder(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// startReport is what one start of the fake transcoder saw.
type startReport struct {
	Args []string
	Env  map[string]string
	Pid  int
}

// fakeTranscoder accepts the flags the driver passes, records them, listens
// on -listen, and exits 0 on SIGTERM. Test-only flags: -report DIR (where to
// record), -exit-code N (fail at once), -hold FILE (on SIGTERM, wait for FILE
// before exiting, so a test can observe a stop in progress).
func fakeTranscoder(args []string) int {
	// Catch the kill signal before reporting the start, so a test that saw
	// the report can count on an orderly stop.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fs := flag.NewFlagSet("transcoder", flag.ContinueOnError)
	job := fs.String("job", "", "")
	fs.Int64("generation", 0, "")
	fs.String("redis", "", "")
	fs.String("origin", "", "")
	listen := fs.String("listen", "", "")
	report := fs.String("report", "", "")
	exitCode := fs.Int("exit-code", 0, "")
	hold := fs.String("hold", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "NOMAD_") {
			env[k] = v
		}
	}
	if *report != "" {
		b, _ := json.Marshal(startReport{Args: args, Env: env, Pid: os.Getpid()})
		name := filepath.Join(*report, fmt.Sprintf("%s.%d.json", *job, os.Getpid()))
		if err := os.WriteFile(name+".tmp", b, 0o644); err != nil || os.Rename(name+".tmp", name) != nil {
			return 3
		}
	}
	if *exitCode != 0 {
		return *exitCode
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	<-sig
	for *hold != "" {
		if _, err := os.Stat(*hold); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}
