# Nomad server agent of the ezlive cluster (three of them for quorum):
# nomad agent -config server.hcl

datacenter = "dc1"
data_dir   = "/opt/nomad/data"
bind_addr  = "0.0.0.0"

server {
  enabled          = true
  bootstrap_expect = 3

  server_join {
    retry_join = ["provider=aws tag_key=ezlive-nomad tag_value=server"]
  }

  # Notice a dead worker node quickly: its jobs' allocations become unknown
  # (then lost after the job's disconnect.lost_after), and the scheduler
  # re-places them on another node.
  heartbeat_grace   = "10s"
  min_heartbeat_ttl = "10s"

  # A stopped live job stays in `nomad job status ezlive-<id>`, dead with
  # its allocation history, until the live job is deleted, which purges it;
  # a week at most. Batch jobs' evaluations (and with them their
  # allocations) are kept as long.
  job_gc_threshold        = "168h"
  eval_gc_threshold       = "1h"
  batch_eval_gc_threshold = "168h"
}

# The control plane itself (the ezlive_api, ezlive_scheduler and
# ezlive_origin jobs) runs on clients of the default node pool; the ingest
# gateway (ezlive_ingest) and the transcoders on the ezlive-workers pool.

# Mutual TLS: tls.hcl, loaded beside this file by every agent.

acl {
  enabled = true
}

telemetry {
  prometheus_metrics = true
}
