# ACL policy of the ezlive_scheduler job's workload identity: exactly what
# the Nomad driver (nomad/driver.go, nomad/watch.go) does, in the namespace it
# places transcoders in (NOMAD_NAMESPACE, "default").
#
#   nomad acl policy apply -namespace default -job ezlive_scheduler \
#     -description "ezlive scheduler: places transcoders" ezlive-scheduler nomad/scheduler-policy.hcl
#
# -namespace/-job attach the policy to the job's workload identity: every
# task of ezlive_scheduler gets it through NOMAD_TOKEN (identity { env = true }).

namespace "default" {
  # submit-job: register, deregister and purge ezlive-<job id>.
  # read-job:   read jobs, their allocations and evaluations, list
  #             allocations, and the Job and Allocation event topics.
  # list-jobs:  list ezlive-* jobs (placements, and the scheduler's /readyz).
  capabilities = ["submit-job", "read-job", "list-jobs"]
}

# List and read the worker nodes, and the Node event topic.
node {
  policy = "read"
}
