package transcoder

import (
	"testing"
	"time"
)

// The slate absorbs the lead the repeated last frame gave the timeline:
// it is paced at 10/11 of real time until the lead is gone, then in real
// time.
func TestSlateAbsorbsTheLead(t *testing.T) {
	lost := time.Unix(1000, 0)
	sp := &splice{lostAt: lost, lead: time.Second}
	for _, c := range []struct {
		ms   float64
		want time.Duration
	}{
		{0, 0},
		{1000, 1100 * time.Millisecond},
		{10_000, 11 * time.Second},
		{20_000, 21 * time.Second}, // the whole second absorbed: real time again
	} {
		if got := sp.slateDueAt(c.ms).Sub(lost); got != c.want {
			t.Errorf("frame at %g ms: due %v after the loss, want %v", c.ms, got, c.want)
		}
	}
	sp.lead = 0 // a silent publisher noticed a loss timeout late: no lead
	if got := sp.slateDueAt(5000).Sub(lost); got != 5*time.Second {
		t.Errorf("without lead the slate is due %v after the loss, want real time", got)
	}
}
