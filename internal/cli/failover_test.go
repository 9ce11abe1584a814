package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/store"
)

// storeFromFlags is what every server does with its Redis flags.
func storeFromFlags(t *testing.T, args ...string) (*store.Store, error) {
	t.Helper()
	fs := newFlagSet("test")
	c := addCommon(fs)
	if err := fs.parse(args); err != nil {
		t.Fatal(err)
	}
	st, rdb, err := c.store()
	if err == nil {
		t.Cleanup(func() { rdb.Close() })
	}
	return st, err
}

func TestBadSentinelFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-redis-sentinels", "127.0.0.1"},
		{"-redis-sentinels", "127.0.0.1:26379,sentinel-b"},
		{"-redis-sentinels", " , "},
		{"-redis-sentinels", "127.0.0.1:26379", "-redis-master", ""},
	} {
		_, err := storeFromFlags(t, args...)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
			continue
		}
		flag := "-redis-sentinels"
		if len(args) > 2 {
			flag = "-redis-master"
		}
		if !strings.HasPrefix(err.Error(), flag+":") {
			t.Errorf("%q: %q does not name %s", args, err, flag)
		}
	}
}

// Killing the Redis primary loses no acknowledged job: while the sentinels
// fail over every store call is EUNAVAILABLE (the API's 503), and then the
// same client writes to the promoted replica.
func TestSentinelFailoverKeepsAcknowledgedJobs(t *testing.T) {
	f := redistest.StartFailover(t, "ezlive-test")
	st, err := storeFromFlags(t, "-redis-sentinels", strings.Join(f.SentinelAddrs(), ","),
		"-redis-master", f.Master, "-redis", "127.0.0.1:1") // -redis is not used
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var acked []string
	tries := 0
	create := func() error { // a new id each time, as the API makes
		tries++
		id := fmt.Sprintf("job-%04d", tries)
		err := st.CreateJob(ctx, &jobspec.LiveJob{Id: id, StreamKey: "key-" + id, State: jobspec.StateCreated})
		if err == nil {
			acked = append(acked, id)
		}
		return err
	}
	for range 20 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	old := f.Primary.Addr
	f.Primary.Stop()

	refused := 0
	testenv.WaitFor(t, 60*time.Second, "a job created after the failover", func() bool {
		_, readErr := st.Job(ctx, acked[0])
		for _, err := range []error{readErr, create()} {
			if err != nil && jobspec.ErrorCode(err) != jobspec.EUNAVAILABLE {
				t.Fatalf("during the failover: %v, want EUNAVAILABLE", err)
			}
		}
		if readErr != nil {
			refused++
		}
		return readErr == nil && len(acked) > 20
	})
	if refused == 0 {
		t.Error("no call failed while the primary was down")
	}
	if now := f.MasterAddr(); now != f.Replica.Addr {
		t.Errorf("the sentinels' primary is %s, want the replica %s (the old one was %s)", now, f.Replica.Addr, old)
	}
	for _, id := range acked {
		if _, err := st.Job(ctx, id); err != nil {
			t.Errorf("job %s, acknowledged, after the failover: %v", id, err)
		}
	}
}

// A transcoder Nomad starts on a node whose settings name sentinels needs
// no -redis; one with neither is still refused.
func TestTranscoderUnderNomadTakesSentinels(t *testing.T) {
	t.Setenv("NOMAD_ALLOC_ID", "a1")
	t.Setenv("EZLIVE_ORIGIN_URL", "http://origin:1081")
	for sentinels, want := range map[string]int{"": 1, "10.0.1.5:26379,10.0.2.5:26379": 0} {
		t.Setenv("EZLIVE_REDIS_SENTINELS", sentinels)
		fs, _ := transcoderFlags()
		if err := fs.parse(nil); err != nil {
			t.Fatal(err)
		}
		if got := workerSettingsMissing(fs); len(got) != want {
			t.Errorf("EZLIVE_REDIS_SENTINELS=%q: missing %q, want %d", sentinels, got, want)
		}
	}
}
