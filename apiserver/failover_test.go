package apiserver_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ezlivestreaming/ezlive/apiserver"
	"github.com/ezlivestreaming/ezlive/internal/redistest"
	"github.com/ezlivestreaming/ezlive/internal/testenv"
	"github.com/ezlivestreaming/ezlive/jobspec"
	"github.com/ezlivestreaming/ezlive/queue"
	"github.com/ezlivestreaming/ezlive/store"
)

// TestRedisFailover kills the Redis primary under a running API on Redis
// behind Sentinel: it answers 503 (never 500) until the sentinels have
// promoted the replica, then creates jobs again, and has every job it had.
func TestRedisFailover(t *testing.T) {
	f := redistest.StartFailover(t, "ezlive-api")
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: f.Master, SentinelAddrs: f.SentinelAddrs(),
		MaxRetries: 1, DialerRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	q, err := queue.NewRedisStream(rdb, queue.StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := apiserver.New(apiserver.Config{Store: store.New(rdb, store.WaitReplicas(1, time.Second)), Queue: q,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL}
	var ids []string
	for range 5 {
		ids = append(ids, e.do("POST", "/jobs", sampleSpec(t)).want(t, http.StatusCreated).job(t).Id)
	}
	f.Primary.Stop()

	unavailable := 0
	testenv.WaitFor(t, 60*time.Second, "a job created after the failover", func() bool {
		a := e.do("POST", "/jobs", sampleSpec(t))
		if a.status == http.StatusServiceUnavailable && a.problem(t).Code == jobspec.EUNAVAILABLE {
			unavailable++
			return false
		}
		ids = append(ids, a.want(t, http.StatusCreated).job(t).Id)
		return true
	})
	if unavailable == 0 {
		t.Error("no 503 while the primary was down")
	}
	for _, id := range ids {
		e.do("GET", "/jobs/"+id, nil).want(t, http.StatusOK)
	}
}
