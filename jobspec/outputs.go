package jobspec

import "time"

// SetOutputFailing records the transcoder's word on its writes to the
// origin: failing since when (zero while the origin takes them), with the
// newest failure, summary ("PUT index.m3u8: origin answered 500"). The
// start of a failure adds an output_failing event at its time, its end an
// output_restored event, as SetInputLostSince does for the input.
func (j *LiveJob) SetOutputFailing(since time.Time, summary string, now time.Time) {
	j.setSince(&j.Output_failing_since, since, now,
		Event{Type: EventOutputFailing, Reason: "the origin does not take the outputs: " + summary},
		Event{Type: EventOutputRestored, Reason: "the origin takes the outputs again"})
	j.Output_error = ""
	if !since.IsZero() {
		j.Output_error = summary
	}
}
