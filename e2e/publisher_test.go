package e2e_test

import (
	"context"
	"sync"
	"time"

	"github.com/ezlivestreaming/ezlive/testfeed"
)

// publisher pushes the test pattern into a job and reconnects as soon as
// its connection drops and the job listens again, as OBS does: the figures
// of a failover include the encoder's reconnect, not a test's reaction.
type publisher struct {
	feeds  *testfeed.Feeds
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func (s *system) publish(jobID string) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{feeds: testfeed.New("ffmpeg", feedSize, nil), cancel: cancel}
	p.done.Go(func() {
		for ctx.Err() == nil {
			if !p.feeds.Running(jobID) {
				if job, err := s.client.Get(ctx, jobID); err == nil && job.Listening() {
					p.feeds.Start(ctx, job)
				}
			}
			sleep(ctx, 50*time.Millisecond)
		}
	})
	s.t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	p.cancel()
	p.done.Wait()
	p.feeds.Close()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
