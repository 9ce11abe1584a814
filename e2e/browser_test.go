package e2e_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/fauxqstest"
	"github.com/ezlivestreaming/ezlive/jobspec"
)

// The browser tests (web/test, node's test runner driving Debian's
// Chromium through playwright-core) run against the whole platform in
// three Go tests, by what they can share the two cores with:
//   - TestBrowserLowLatency: input loss in LL-HLS and LL-DASH, and
//     latency, where low-latency players sit a second or two from the
//     live edge; it is not parallel, so it runs first, alone;
//   - TestBrowserDVR: dvr.test.mjs, the origin on S3;
//   - TestBrowser: every other file (the demo page, DRM, input loss in HLS
//     and DASH, the job list).
// The last two are parallel, beside the other e2e tests.

// lowLatencyTests and dvrTests are the files TestBrowser leaves to the
// other two.
var (
	lowLatencyTests = []string{"test/inputloss-ll.test.mjs", "test/latency.test.mjs"}
	dvrTests        = "test/dvr.test.mjs"
)

// TestBrowser runs every browser file but the DVR and low-latency ones,
// the origin on its file storage: the demo page creates jobs that play for
// HLS and DASH, DRM plays with a license and not without, and players
// play HLS and DASH through an input loss.
// EZLIVE_WEB_TESTS, node --test arguments, narrows the run to any files
// (e.g. "--test-name-pattern=HLS test/browser.test.mjs").
func TestBrowser(t *testing.T) {
	t.Parallel()
	webDir := webTestDir(t)
	s := startSystemWith(t, []string{"-queue", "redis"}, nil)
	narrowed := os.Getenv("EZLIVE_WEB_TESTS")
	args := strings.Fields(narrowed)
	if narrowed == "" {
		args = webTestFiles(t, webDir, append([]string{dvrTests}, lowLatencyTests...)...)
	}
	shots := runWebTests(t, s, webDir, args...)
	if pngs, _ := filepath.Glob(filepath.Join(shots, "*.png")); len(pngs) == 0 && narrowed == "" {
		t.Fatal("the browser test took no screenshot")
	}
}

// TestBrowserLowLatency runs the low-latency input loss and the latency
// files. It is not
// parallel: it runs before the other e2e tests, so their encoders never
// take the cores its low-latency players need to keep up.
func TestBrowserLowLatency(t *testing.T) {
	webDir := webTestDir(t)
	runWebTests(t, startSystemWith(t, []string{"-queue", "redis"}, nil), webDir, lowLatencyTests...)
}

// webTestFiles is every browser test file of webDir but except.
func webTestFiles(t *testing.T, webDir string, except ...string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(webDir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser test in %s/test (%v)", webDir, err)
	}
	var out []string
	for _, f := range files {
		if rel, _ := filepath.Rel(webDir, f); !slices.Contains(except, rel) {
			out = append(out, rel)
		}
	}
	return out
}

// TestBrowserDVR runs web/test/dvr.test.mjs (DVR seek-back, a recording
// and a clip, in Shaka, hls.js and dash.js) with the origin on S3
// (fauxqs), where the bucket must list the jobs' outputs while they
// stream. The players read the same manifests and segments from the
// origin's file storage: TestBrowser plays a recording and a clip there
// (browser.test.mjs), transcoder's TestDVRWindow checks its DVR windows,
// and the origin's tests run both storages.
func TestBrowserDVR(t *testing.T) {
	t.Parallel()
	webDir := webTestDir(t)
	const bucket = "ezlive-e2e"
	endpoint := fauxqstest.StartS3(t, bucket)
	s := startSystemWith(t, []string{"-queue", "redis"}, nil, s3Origin(endpoint, bucket)...)
	// The jobs' outputs must be seen in the bucket while they stream (the
	// tests delete the jobs: after the run it holds none of them).
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stored := make(chan bool, 1)
	go func() { stored <- bucketListsOutputs(ctx, s.bucket) }()
	runWebTests(t, s, webDir, dvrTests)
	stop()
	if !<-stored {
		t.Fatal("the bucket never listed a job's output: the origin did not store them in S3")
	}
}

// bucketListsOutputs polls the bucket at bucketURL (listObjects) until it
// lists a job's output, and reports whether it did before ctx ended.
func bucketListsOutputs(ctx context.Context, bucketURL string) bool {
	q := url.Values{"list-type": {"2"}, "max-keys": {"1"}, "prefix": {jobspec.S3OutputPrefix + "/"}}
	for ctx.Err() == nil {
		if page, err := listObjects(ctx, bucketURL+"?"+q.Encode()); err == nil && len(page.Contents) > 0 {
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return false
}

// webTestDir is web/, once node, Chromium and the players are installed.
func webTestDir(t *testing.T) string {
	t.Helper()
	for _, need := range []string{"node", "/usr/bin/chromium"} {
		if _, err := exec.LookPath(need); err != nil {
			t.Fatalf("%s is missing: run make test, which installs it", need)
		}
	}
	webDir, err := filepath.Abs("../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(shakaDir(webDir)); err != nil {
		t.Fatalf("Shaka Player not installed (%v): run make test, which runs npm ci in web/", err)
	}
	return webDir
}

func shakaDir(webDir string) string {
	return filepath.Join(webDir, "node_modules", "shaka-player", "dist")
}

// runWebTests serves the demo page from s's API and runs node --test with
// args in webDir against it; the test fails if they fail. It returns the
// folder of their screenshots.
func runWebTests(t *testing.T, s *system, webDir string, args ...string) (shots string) {
	t.Helper()
	s.restartAPI("-feeds", "-shaka-dir", shakaDir(webDir))
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	shots = t.TempDir()
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-reporter=spec"}, args...)...)
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(), "EZLIVE_URL="+s.apiURL, "EZLIVE_SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", tail(out, 6000))
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	return shots
}
