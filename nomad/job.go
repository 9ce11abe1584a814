package nomad

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"

	"github.com/ezlivestreaming/ezlive/scheduler"
)

// The Nomad side of a live job: `nomad job status ezlive-<id>` shows the
// node and, in meta, what the stream is.
const (
	JobPrefix      = "ezlive-"
	GroupName      = "transcoder"
	TaskName       = "transcoder"
	PortLabel      = "ingest"
	MetaJobID      = "ezlive_job_id"
	MetaGeneration = "ezlive_generation"
	MetaStreamType = "stream_type"
	MetaLadder     = "ladder"
)

// NomadJobID is the Nomad job that runs a live job's transcoder.
func NomadJobID(jobID string) string { return JobPrefix + jobID }

// isLiveJob reports whether a Nomad job runs a live job's transcoder: its
// meta names the live job, and its ID is the one this driver gives it.
// Jobs that only share the prefix (ezlive-api, ezlive-scheduler, …) are not.
func isLiveJob(nomadJobID string, meta map[string]string) bool {
	id := meta[MetaJobID]
	return id != "" && nomadJobID == NomadJobID(id)
}

// jobFor builds the batch job pinned to p.NodeID; mhzPerCore converts the
// placement's cores to Nomad's MHz so Nomad's accounting matches ours.
func (d *Driver) jobFor(p scheduler.Placement, mhzPerCore float64) *api.Job {
	id := NomadJobID(p.JobID)
	job := &api.Job{
		ID:          new(id),
		Name:        new(id),
		Type:        new(api.JobTypeBatch),
		Datacenters: d.cfg.Datacenters,
		Meta: map[string]string{
			MetaJobID:      p.JobID,
			MetaGeneration: strconv.FormatInt(p.Generation, 10),
			MetaStreamType: p.StreamType,
			MetaLadder:     p.Summary,
		},
		Constraints: []*api.Constraint{api.NewConstraint("${node.unique.id}", "=", p.NodeID)},
		TaskGroups:  []*api.TaskGroup{d.groupFor(p, mhzPerCore)},
	}
	if d.cfg.NodePool != "" {
		job.NodePool = new(d.cfg.NodePool)
	}
	if d.cfg.NodeClass != "" {
		job.Constraints = append(job.Constraints, api.NewConstraint("${node.class}", "=", d.cfg.NodeClass))
	}
	return job
}

func (d *Driver) groupFor(p scheduler.Placement, mhzPerCore float64) *api.TaskGroup {
	return &api.TaskGroup{
		Name:     new(GroupName),
		Count:    new(1),
		Networks: []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: PortLabel}}}},
		// Quick in-place restarts for a crashed transcoder; past them the
		// allocation fails and the scheduler re-places the job.
		RestartPolicy: &api.RestartPolicy{
			Attempts: new(d.cfg.RestartAttempts),
			Interval: new(d.cfg.RestartInterval),
			Delay:    new(d.cfg.RestartDelay),
			Mode:     new(api.RestartPolicyModeFail),
		},
		// Re-placement is the scheduler's: the job is pinned to one node.
		ReschedulePolicy: &api.ReschedulePolicy{Attempts: new(0), Unlimited: new(false)},
		// A node that is briefly unreachable keeps its transcoder, and Nomad
		// starts no second one meanwhile: one stream, one encoder.
		Disconnect: &api.DisconnectStrategy{
			LostAfter: new(d.cfg.LostAfter),
			Replace:   new(false),
			Reconcile: new(api.ReconcileOptionKeepOriginal),
		},
		Tasks: []*api.Task{d.taskFor(p, mhzPerCore)},
	}
}

func (d *Driver) taskFor(p scheduler.Placement, mhzPerCore float64) *api.Task {
	cpu := max(1, int(math.Ceil(p.CPU*mhzPerCore)))
	mem := max(p.Memory, 32)
	return &api.Task{
		Name:   TaskName,
		Driver: d.cfg.TaskDriver,
		Config: map[string]any{
			"command": d.cfg.Command,
			"args":    d.transcoderArgs(p),
		},
		Resources:   &api.Resources{CPU: new(cpu), MemoryMB: new(mem)},
		KillSignal:  "SIGTERM",
		KillTimeout: new(d.cfg.KillTimeout),
	}
}

// transcoderArgs are `ezlive transcoder`'s flags; Nomad interpolates the
// ingest address it allocated.
func (d *Driver) transcoderArgs(p scheduler.Placement) []string {
	args := []string{"transcoder", "-job", p.JobID, "-generation", strconv.FormatInt(p.Generation, 10)}
	if d.cfg.RedisAddr != "" {
		args = append(args, "-redis", d.cfg.RedisAddr)
	}
	if d.cfg.OriginURL != "" {
		args = append(args, "-origin", d.cfg.OriginURL)
	}
	args = append(args, "-listen", "${NOMAD_IP_"+PortLabel+"}:${NOMAD_PORT_"+PortLabel+"}")
	return append(args, d.cfg.ExtraArgs...)
}

// evalFailure explains an evaluation that did not place everything, in the
// words `nomad job status` uses; "" when it placed.
func evalFailure(ev *api.Evaluation) string {
	if ev.Status == "failed" || ev.Status == "canceled" {
		return fmt.Sprintf("evaluation %s: %s", ev.Status, ev.StatusDescription)
	}
	var parts []string
	for _, group := range sortedKeys(ev.FailedTGAllocs) {
		parts = append(parts, describeMetric(ev.FailedTGAllocs[group]))
	}
	return strings.Join(parts, "; ")
}

func describeMetric(m *api.AllocationMetric) string {
	var parts []string
	if m.NodesEvaluated == 0 {
		msg := "No nodes were eligible for evaluation"
		if m.NodePool != "" && m.NodesInPool == 0 {
			msg += fmt.Sprintf(" (no ready nodes in node pool %q)", m.NodePool)
		}
		parts = append(parts, msg)
	}
	for _, k := range sortedKeys(m.ClassFiltered) {
		parts = append(parts, fmt.Sprintf("Class %q: %d nodes excluded by filter", k, m.ClassFiltered[k]))
	}
	for _, k := range sortedKeys(m.ConstraintFiltered) {
		parts = append(parts, fmt.Sprintf("Constraint %q: %d nodes excluded by filter", k, m.ConstraintFiltered[k]))
	}
	if m.NodesExhausted > 0 {
		parts = append(parts, fmt.Sprintf("Resources exhausted on %d nodes", m.NodesExhausted))
	}
	for _, k := range sortedKeys(m.ClassExhausted) {
		parts = append(parts, fmt.Sprintf("Class %q exhausted on %d nodes", k, m.ClassExhausted[k]))
	}
	for _, k := range sortedKeys(m.DimensionExhausted) {
		parts = append(parts, fmt.Sprintf("Dimension %q exhausted on %d nodes", k, m.DimensionExhausted[k]))
	}
	for _, q := range m.QuotaExhausted {
		parts = append(parts, fmt.Sprintf("Quota limit hit %q", q))
	}
	if len(parts) == 0 {
		return "placement failed"
	}
	return strings.Join(parts, "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
