package playback

import "time"

// SetClock makes s read the time from now.
func SetClock(s *Signer, now func() time.Time) { s.now = now }
