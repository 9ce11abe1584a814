package ingest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/rtmp"
)

// The gateway's trace names each video frame it relays by its timestamp,
// but not sequence headers or audio.
func TestTraceFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		m      rtmp.Message
		logged bool
	}{
		{"AVC frame", rtmp.Message{Type: rtmp.TypeVideo, Timestamp: 1234, Payload: []byte{0x27, 1, 0, 0, 0}}, true},
		{"AVC sequence header", rtmp.Message{Type: rtmp.TypeVideo, Payload: []byte{0x17, 0, 0, 0, 0}}, false},
		{"AAC frame", rtmp.Message{Type: rtmp.TypeAudio, Payload: []byte{0xaf, 1}}, false},
		{"empty", rtmp.Message{Type: rtmp.TypeVideo}, false},
	}
	for _, tt := range tests {
		var logged bytes.Buffer
		in := time.UnixMilli(1000)
		traceFrame(slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})), &tt.m, in)
		if !tt.logged {
			if logged.Len() != 0 {
				t.Errorf("%s: logged %s", tt.name, logged.String())
			}
			continue
		}
		var rec struct {
			Msg string
			TS  uint32
			In  int64 `json:"in_ms"`
			Out int64 `json:"out_ms"`
		}
		if err := json.Unmarshal(logged.Bytes(), &rec); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if rec.Msg != "trace: video frame relayed" || rec.TS != tt.m.Timestamp || rec.In != 1000 || rec.Out < rec.In {
			t.Errorf("%s: record %+v", tt.name, rec)
		}
	}
}
