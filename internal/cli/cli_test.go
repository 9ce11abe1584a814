package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
		{"keeping recordings of a stop", nil, runJobs, []string{"stop", "-keep-recordings", "x"}, []string{"-keep-recordings", "delete"}},
		{"unknown flag", nil, runAPI, []string{"-nosuch"}, []string{"-nosuch"}},
		{"bad duration from the environment", map[string]string{"EZLIVE_HEARTBEAT_TIMEOUT": "soon"}, runScheduler, nil,
			[]string{"-heartbeat-timeout", "EZLIVE_HEARTBEAT_TIMEOUT", "soon"}},
		{"bad log level", nil, runOrigin, []string{"-log-level", "loud"}, []string{"-log-level", "loud"}},
		{"bad queue", nil, runAPI, []string{"-queue", "kafka", "-redis", "127.0.0.1:1"}, []string{"-queue", "kafka"}},
		{"bad driver", nil, runScheduler, []string{"-driver", "k8s", "-redis", "127.0.0.1:1"}, []string{"-driver", "k8s"}},
		{"bad port range", nil, runScheduler, []string{"-ingest-ports", "9-1", "-redis", "127.0.0.1:1"}, []string{"-ingest-ports", "9-1"}},
		{"transcoder without job and listen", nil, runTranscoder, []string{"-listen", "nowhere"},
			[]string{"-job is required", "-generation", "-listen", "nowhere"}},
		{"transcoder under Nomad without the worker's settings", map[string]string{"NOMAD_ALLOC_ID": "a1", "EZLIVE_ORIGIN_URL": "http://origin:1081"},
			runTranscoder, []string{"-job", "j", "-generation", "1", "-listen", "127.0.0.1:1"},
			[]string{"-redis is not set", "EZLIVE_REDIS_ADDR", "-worker-redis"}},
		{"bad sentinel address", map[string]string{"EZLIVE_REDIS_SENTINELS": "sentinel-a"}, runAPI, nil,
			[]string{"-redis-sentinels", "sentinel-a", "host:port"}},
		{"short SRT passphrase", nil, runIngest, []string{"-srt-passphrase", "short"}, []string{"-srt-passphrase", "10 to 79"}},
		{"bad playback base", nil, runAPI, []string{"-playback-base-url", "ftp://x", "-redis", "127.0.0.1:1"}, []string{"-playback-base-url"}},
		{"negative queue limit from the environment", map[string]string{"EZLIVE_MAX_QUEUED": "-1"}, runAPI, []string{"-redis", "127.0.0.1:1"},
			[]string{"-max-queued", "-1"}},
		{"negative client quota", nil, runDev, []string{"-client-quota", "-5", "-redis", "127.0.0.1:1"}, []string{"-client-quota", "-5"}},
		{"short KEK for the origin", map[string]string{"EZLIVE_DRM_KEK": "c2hvcnQ="}, runOrigin, []string{"-redis", "127.0.0.1:1"},
			[]string{"-drm-kek", "EZLIVE_DRM_KEK", "32 bytes"}},
		{"unknown storage", nil, runOrigin, []string{"-storage", "gcs", "-redis", "127.0.0.1:1"}, []string{"-storage", "gcs"}},
		{"S3 storage without a bucket", nil, runOrigin, []string{"-storage", "s3", "-redis", "127.0.0.1:1"}, []string{"-storage s3", "-s3-bucket"}},
		{"bad test pattern size", nil, runAPI, []string{"-feeds", "-feed-size", "640x", "-redis", "127.0.0.1:1"}, []string{"-feed-size", "640x", "WIDTHxHEIGHT"}},
		{"odd test pattern size from the environment", map[string]string{"EZLIVE_FEED_SIZE": "641x360"}, runDev, []string{"-redis", "127.0.0.1:1"}, []string{"-feed-size", "641x360", "even"}},
		{"KEK not base64 for the API", nil, runAPI, []string{"-drm-kek", "not base64!", "-redis", "127.0.0.1:1"}, []string{"-drm-kek", "base64"}},
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

// The API (alone or in dev) listens beyond loopback only with a token, or
// when the operator says -insecure; the check comes before anything starts.
func TestAPIBeyondLoopbackNeedsToken(t *testing.T) {
	refused := []struct {
		run    func(context.Context, []string) error
		listen string
	}{
		{runAPI, "0.0.0.0:0"}, {runAPI, ":0"}, {runAPI, "[::]:0"}, {runAPI, "192.0.2.7:0"},
		{runAPI, "api.example.com:0"}, {runDev, "0.0.0.0:0"},
	}
	// Ended: a server that did start returns at once instead of serving.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range refused {
		err := tt.run(ended, []string{"-listen", tt.listen, "-redis", "127.0.0.1:1"})
		for _, part := range []string{"-listen " + tt.listen, "not loopback", "-token", "EZLIVE_API_TOKEN", "-insecure"} {
			if err == nil || !strings.Contains(err.Error(), part) {
				t.Errorf("-listen %s without a token: error %v does not say %q", tt.listen, err, part)
			}
		}
	}
	// Allowed: these get as far as Redis, which is not there.
	allowed := [][]string{
		{"-listen", "127.0.0.1:0"}, {"-listen", "127.3.4.5:0"}, {"-listen", "[::1]:0"}, {"-listen", "localhost:0"},
		{"-listen", "0.0.0.0:0", "-token", "secret"}, {"-listen", "0.0.0.0:0", "-insecure"},
	}
	for _, args := range allowed {
		err := runAPI(context.Background(), append(args, "-redis", "127.0.0.1:1", "-queue", "kafka"))
		if err == nil || !strings.Contains(err.Error(), "-queue") {
			t.Errorf("%v: %v, want it past the listen check", args, err)
		}
	}
	t.Setenv("EZLIVE_API_TOKEN", "from-env")
	if err := runAPI(context.Background(), []string{"-listen", "0.0.0.0:0", "-queue", "kafka"}); err == nil || strings.Contains(err.Error(), "loopback") {
		t.Errorf("token from EZLIVE_API_TOKEN: %v", err)
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
	// dev runs the gateway too, so it takes the gateway's per-IP limit.
	if !slices.Contains(names["dev"], "max-attempts-per-minute") {
		t.Errorf("dev has no -max-attempts-per-minute: %v", names["dev"])
	}
	for _, f := range []string{"upload-idle-timeout", "upload-min-rate"} {
		if !slices.Contains(names["origin"], f) {
			t.Errorf("origin has no -%s", f)
		}
	}
	if !EnvNames()["EZLIVE_REDIS_ADDR"] {
		t.Error("EZLIVE_REDIS_ADDR missing from EnvNames")
	}
}
