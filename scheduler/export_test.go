package scheduler

import (
	"context"
	"time"
)

// Tick runs what Run does every second.
func (s *Scheduler) Tick(ctx context.Context) { s.tick(ctx) }

// OnDriverEvent handles ev as Run does.
func (s *Scheduler) OnDriverEvent(ctx context.Context, ev Event) { s.onDriverEvent(ctx, ev) }

// SetClock makes now the scheduler's clock.
func (s *Scheduler) SetClock(now func() time.Time) { s.now = now }
