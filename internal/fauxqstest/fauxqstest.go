// Package fauxqstest starts fauxqs, an SQS- and S3-compatible server (npm,
// pinned in test/fauxqs), on a free loopback port for one test and stops it
// afterwards. It owns only that process (and, for S3, the buckets it makes);
// the code under test lives in queue/ and origin/.
package fauxqstest

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Region and the static credentials fauxqs accepts (it checks none).
const (
	Region    = "us-east-1"
	AccessKey = "test"
	SecretKey = "test"
)

// startTimeout bounds node's start-up; generous because CI machines are busy.
const startTimeout = 60 * time.Second

// Start runs fauxqs on 127.0.0.1 and returns its endpoint URL
// (http://127.0.0.1:PORT), for SQSConfig.Endpoint. The server is stopped when
// the test ends. The test fails if node or test/fauxqs/node_modules is missing.
func Start(t testing.TB) (endpoint string) {
	t.Helper()
	dir := fauxqsDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not installed (make test installs it): %v", err)
	}
	cmd := exec.Command(node, "serve.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FAUXQS_HOST=127.0.0.1", "FAUXQS_PORT=0", "FAUXQS_DEFAULT_REGION="+Region)
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	// serve.mjs exits when its stdin closes: if this test binary is killed,
	// the pipe closes with it and fauxqs does not outlive us.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("fauxqs stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("fauxqs stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fauxqs: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	endpoint, err = readEndpoint(stdout)
	if err != nil {
		t.Fatalf("fauxqs did not start: %v\n%s", err, stderr.String())
	}
	return endpoint
}

// StartS3 runs fauxqs as Start does and creates buckets in it; S3 clients
// reach it path-style at the returned endpoint.
func StartS3(t testing.TB, buckets ...string) (endpoint string) {
	t.Helper()
	endpoint = Start(t)
	for _, b := range buckets {
		req, err := http.NewRequest(http.MethodPut, endpoint+"/"+b, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("create bucket %s: status %d", b, resp.StatusCode)
		}
	}
	return endpoint
}

// readEndpoint waits for the URL serve.mjs prints once it is listening.
func readEndpoint(stdout io.Reader) (string, error) {
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- strings.TrimSpace(sc.Text())
		}
		close(line)
		for sc.Scan() { // keep draining so node never blocks on a full pipe
		}
	}()
	select {
	case l, ok := <-line:
		if !ok || !strings.HasPrefix(l, "http://127.0.0.1:") {
			return "", fmt.Errorf("unexpected first line %q", l)
		}
		return l, nil
	case <-time.After(startTimeout):
		return "", errors.New("no answer within " + startTimeout.String())
	}
}

// fauxqsDir finds test/fauxqs from the module root above the working
// directory (go test runs in the package directory).
func fauxqsDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir := filepath.Join(d, "test", "fauxqs")
			if _, err := os.Stat(filepath.Join(dir, "node_modules", "fauxqs", "package.json")); err != nil {
				t.Fatalf("fauxqs is not installed in %s: run `make test` (it runs `npm ci --prefix test/fauxqs`)", dir)
			}
			return dir
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}
