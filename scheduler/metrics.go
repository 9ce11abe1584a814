package scheduler

// Metrics counts what the scheduler decides, for operators (package metrics
// implements it with Prometheus counters). Methods must be cheap, safe for
// concurrent use and never fail: counting must not change a decision.
type Metrics interface {
	// Placed counts a placement the driver accepted on a node: a first
	// placement, a re-placement, or the sweep restarting a recorded one.
	Placed(jobID, nodeID string)
	// Replaced counts a dead placement being moved off nodeID.
	Replaced(jobID, nodeID, reason string)
	// Refused counts a placement the cluster refused.
	Refused(jobID, nodeID, reason string)
	// Failed counts a job given up on.
	Failed(jobID, reason string)
}

// noMetrics is the Metrics of a scheduler configured without any.
type noMetrics struct{}

func (noMetrics) Placed(string, string)           {}
func (noMetrics) Replaced(string, string, string) {}
func (noMetrics) Refused(string, string, string)  {}
func (noMetrics) Failed(string, string)           {}
