package e2e_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowser runs the demo page's browser test (web/test, node's test
// runner driving Debian's Chromium through playwright-core) against the
// whole platform: create a job in the page, start the live feed, and check
// the video plays for HLS and DASH. EZLIVE_WEB_TESTS, node --test
// arguments, narrows the run (default: every file in web/test).
func TestBrowser(t *testing.T) {
	t.Parallel()
	for _, need := range []string{"node", "/usr/bin/chromium"} {
		if _, err := exec.LookPath(need); err != nil {
			t.Fatalf("%s is missing: run make test, which installs it", need)
		}
	}
	webDir, err := filepath.Abs("../web")
	if err != nil {
		t.Fatal(err)
	}
	shaka := filepath.Join(webDir, "node_modules", "shaka-player", "dist")
	if _, err := os.Stat(shaka); err != nil {
		t.Fatalf("Shaka Player not installed (%v): run make test, which runs npm ci in web/", err)
	}
	s := startSystemWith(t, []string{"-queue", "redis"}, nil)
	s.restartAPI("-feeds", "-shaka-dir", shaka)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	shots := t.TempDir()
	// EZLIVE_WEB_TESTS narrows the run, as node --test arguments, e.g.
	// "--test-name-pattern=HLS test/browser.test.mjs".
	args := strings.Fields(cmp.Or(os.Getenv("EZLIVE_WEB_TESTS"), "test/"))
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-reporter=spec"}, args...)...)
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(), "EZLIVE_URL="+s.apiURL, "EZLIVE_SCREENSHOT_DIR="+shots)
	out, err := cmd.CombinedOutput()
	t.Logf("browser test output:\n%s", tail(out, 6000))
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) == 0 {
		t.Fatal("the browser test took no screenshot")
	}
}
