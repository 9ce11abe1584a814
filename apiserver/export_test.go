package apiserver

// EventReaderDone returns a channel closed when s's reader of job_events
// stops, or nil when none runs.
func EventReaderDone(s *Server) <-chan struct{} {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if s.hub.done == nil {
		return nil
	}
	return s.hub.done
}

// EventReaderLags is how many batches s's reader did not hand to a stream
// that was too far behind.
func EventReaderLags(s *Server) int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.lags
}

// EventSubBuffer is how many batches a stream may have unread.
const EventSubBuffer = subBuffer

var EventIDBefore = eventIDBefore
