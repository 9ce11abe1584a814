package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every bad command line is refused with an error that names the flag (or
// the environment variable it came from), before anything starts.
func TestBadCommandLinesNameTheFlag(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		run  func(context.Context, []string) error
		args []string
		want []string // parts of the error
	}{
		{"create without a file", nil, runJobs, []string{"create"}, []string{"-f is required"}},
		{"unknown jobs action", nil, runJobs, []string{"frobnicate"}, []string{"unknown jobs action", "rotate-key"}},
		{"get without an id", nil, runJobs, []string{"get"}, []string{"exactly one job id"}},
		{"unknown flag", nil, runAPI, []string{"-nosuch"}, []string{"-nosuch"}},
		{"bad duration from the environment", map[string]string{"EZLIVE_HEARTBEAT_TIMEOUT": "soon"}, runScheduler, nil,
			[]string{"-heartbeat-timeout", "EZLIVE_HEARTBEAT_TIMEOUT", "soon"}},
		{"bad log level", nil, runOrigin, []string{"-log-level", "loud"}, []string{"-log-level", "loud"}},
		{"bad queue", nil, runAPI, []string{"-queue", "kafka", "-redis", "127.0.0.1:1"}, []string{"-queue", "kafka"}},
		{"bad driver", nil, runScheduler, []string{"-driver", "k8s", "-redis", "127.0.0.1:1"}, []string{"-driver", "k8s"}},
		{"bad port range", nil, runScheduler, []string{"-ingest-ports", "9-1", "-redis", "127.0.0.1:1"}, []string{"-ingest-ports", "9-1"}},
		{"transcoder without job and listen", nil, runTranscoder, []string{"-listen", "nowhere"},
			[]string{"-job is required", "-generation", "-listen", "nowhere"}},
		{"bad playback base", nil, runAPI, []string{"-playback-base-url", "ftp://x", "-redis", "127.0.0.1:1"}, []string{"-playback-base-url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := tt.run(context.Background(), tt.args)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
}

func TestUsageErrorsExitWith2(t *testing.T) {
	if code := Main([]string{"nosuch"}); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code := Main([]string{"jobs", "create"}); code != 2 {
		t.Errorf("jobs create without -f: exit %d, want 2", code)
	}
	if code := Main([]string{"help"}); code != 0 {
		t.Errorf("help: exit %d, want 0", code)
	}
}

func TestEnvFileFillsWhatIsUnset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ezlive.env")
	os.WriteFile(path, []byte("# node settings\nEZLIVE_TEST_A=from-file\nexport EZLIVE_TEST_B=\"quoted\"\nEZLIVE_TEST_C=file\n"), 0o600)
	t.Setenv("EZLIVE_ENV_FILE", path)
	t.Setenv("EZLIVE_TEST_C", "from-env")
	os.Unsetenv("EZLIVE_TEST_A")
	os.Unsetenv("EZLIVE_TEST_B")
	t.Cleanup(func() { os.Unsetenv("EZLIVE_TEST_A"); os.Unsetenv("EZLIVE_TEST_B") })
	if err := loadEnvFile(); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"EZLIVE_TEST_A": "from-file", "EZLIVE_TEST_B": "quoted", "EZLIVE_TEST_C": "from-env"} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	os.WriteFile(path, []byte("not a setting\n"), 0o600)
	if err := loadEnvFile(); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v, want an error naming the line", err)
	}
	t.Setenv("EZLIVE_ENV_FILE", filepath.Join(t.TempDir(), "missing"))
	if err := loadEnvFile(); err == nil {
		t.Error("a named file that is missing was ignored")
	}
}

func TestFlagNamesCoverTheServers(t *testing.T) {
	names := FlagNames()
	for _, cmd := range []string{"api", "scheduler", "origin", "transcoder", "ingest", "dev"} {
		if len(names[cmd]) == 0 {
			t.Errorf("no flags listed for %s", cmd)
		}
	}
	if !EnvNames()["EZLIVE_REDIS_ADDR"] {
		t.Error("EZLIVE_REDIS_ADDR missing from EnvNames")
	}
}
