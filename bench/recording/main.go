// Command recording is the recordings benchmark of issue 14: the storage a
// recording of the sample ladder costs per channel-hour (what the origin
// keeps: every segment and init segment of every rendition, plus its
// playlists), and how long a clip takes to create: the API's answer is a
// URL, so the cost is the origin's first read of the clip's manifest, cut
// from the recording's index. It prints figures and asserts nothing.
// Run: go run ./bench/recording
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/ezlivestreaming/ezlive/ffmpeg"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/origin"
	"github.com/ezlivestreaming/ezlive/recording"
)

var (
	seconds = flag.Int("seconds", 60, "media seconds streamed (encoded as fast as ffmpeg can)")
	clips   = flag.Int("clips", 50, "clip reads timed (the median is printed)")
	specArg = flag.String("spec", "jobspec/testdata/sample_live_job.json", "job spec whose ladder is recorded")
)

const token = "bench-token"

// always records every job.
type always struct{}

func (always) Recorded(context.Context, string) (bool, error)              { return true, nil }
func (always) SaveRecording(context.Context, string, recording.Info) error { return nil }

func main() {
	flag.Parse()
	log.SetFlags(0)
	b, err := os.ReadFile(*specArg)
	check(err)
	var spec jobspec.Spec
	check(json.Unmarshal(b, &spec))
	jobspec.Defaults(&spec)
	check(jobspec.Validate(spec))
	root, err := os.MkdirTemp("", "ezlive-bench-rec-")
	check(err)
	defer os.RemoveAll(root)
	org, err := origin.New(origin.Config{Root: root, Recordings: always{}, Authorizer: origin.AuthorizerFunc(
		func(context.Context, string, string) error { return nil })})
	check(err)
	srv := httptest.NewServer(org)
	defer srv.Close()

	fmt.Printf("ezlive recordings benchmark: ladder %s, %d s streamed\n", jobspec.Summary(spec), *seconds)
	args := ffmpeg.Args(spec, ffmpeg.Target{Input: "-", OutputURL: srv.URL + "/live/job1/", UploadToken: token, Generation: 1})
	in := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-t", strconv.Itoa(*seconds),
		"-i", "testsrc2=size=1280x720:rate=25[out0];sine=frequency=440:sample_rate=48000[out1]"}
	for i := 0; i < len(args); i++ { // replace the transcoder's input (-f flv -i pipe:0) with the test source
		if args[i] == "-i" {
			args = append(args[:i-2], args[i+2:]...)
			break
		}
	}
	cmd := exec.Command("ffmpeg", append(in, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	time.Sleep(time.Second) // the last uploads land

	var info recording.Info
	ib, err := os.ReadFile(filepath.Join(root, "job1", "recordings", "g1p0", recording.InfoFile))
	check(err)
	check(json.Unmarshal(ib, &info))
	var onDisk int64
	check(filepath.WalkDir(filepath.Join(root, "job1"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			onDisk += fi.Size()
		}
		return err
	}))
	hour := 3600 / info.Duration
	fmt.Printf("recording: %.1f s, %d bytes of media (info.json), %d bytes in the job folder\n", info.Duration, info.Bytes, onDisk)
	fmt.Printf("storage per channel-hour: %.0f MB of media, %.0f MB with manifests and thumbnail\n",
		float64(info.Bytes)*hour/1e6, float64(onDisk)*hour/1e6)

	_, end := info.Span()
	clip := recording.ClipName(end.Add(-30*time.Second), end)
	url := srv.URL + "/live/job1/recordings/g1p0/clips/" + clip + "/"
	var ms []float64
	for range *clips {
		t0 := time.Now()
		resp, err := http.Get(url + recording.DASHMaster)
		check(err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("clip: %s", resp.Status)
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ms)
	fmt.Printf("clip of the last 30 s (static MPD, %d reads): median %.2f ms to cut and serve its manifest\n", len(ms), ms[len(ms)/2])
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
