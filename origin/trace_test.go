package origin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/testenv"
)

// With its logger at debug level the origin logs, for each stored upload,
// when its bytes arrived, up to the whole file; at info level it keeps no
// steps and logs nothing of them.
func TestUploadTrace(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var logged testenv.Buffer
		f := newFixture(t, Config{Logger: slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: level}))})
		content := bytes.Repeat([]byte("x"), 3000)
		f.put("/live/job1/chunk-1.m4s", content)
		var rec struct {
			Msg, Path string
			JobID     string `json:"job_id"`
			Steps     [][2]int64
			StoredMS  int64 `json:"stored_ms"`
		}
		for _, line := range strings.Split(logged.String(), "\n") {
			if strings.Contains(line, "trace: upload stored") {
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		if level == slog.LevelInfo {
			if rec.Msg != "" || f.srv.uploads.trace {
				t.Errorf("traced at info level: %+v", rec)
			}
			continue
		}
		if rec.Path != "job1/chunk-1.m4s" || rec.JobID != "job1" || len(rec.Steps) == 0 {
			t.Fatalf("record %+v", rec)
		}
		last := rec.Steps[len(rec.Steps)-1]
		if last[0] != int64(len(content)) || rec.StoredMS < last[1] {
			t.Errorf("last step %v, stored at %d: want all %d bytes, stored after", last, rec.StoredMS, len(content))
		}
		for i := 1; i < len(rec.Steps); i++ {
			if rec.Steps[i][0] <= rec.Steps[i-1][0] || rec.Steps[i][1] < rec.Steps[i-1][1] {
				t.Errorf("steps %v do not grow", rec.Steps)
			}
		}
	}
}
