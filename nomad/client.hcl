# Nomad client agent of an ezlive worker node: it runs the `ezlive transcoder`
# processes the scheduler pins to it. Install the ezlive binary at
# /usr/local/bin/ezlive and ffmpeg on the node, then: nomad agent -config client.hcl
#
# Transcoders learn Redis (EZLIVE_REDIS_ADDR, EZLIVE_REDIS_PASSWORD,
# EZLIVE_REDIS_TLS) and the origin (EZLIVE_ORIGIN_URL) from the agent's
# environment, which Nomad passes to raw_exec tasks: write them to
# /etc/ezlive/ezlive.env and load it in the agent's systemd unit,
#   [Service]
#   EnvironmentFile=/etc/ezlive/ezlive.env
# (terraform/ does both). ezlive also reads that file itself.

datacenter = "dc1"
data_dir   = "/opt/nomad/data"
bind_addr  = "0.0.0.0"

client {
  enabled = true

  # The scheduler lists the ready, eligible nodes of this pool and class
  # (ezlive scheduler -nomad-node-pool/-nomad-node-class). Nomad creates the
  # pool when the first client of it registers.
  node_pool  = "ezlive-workers"
  node_class = "transcode"

  server_join {
    retry_join = ["provider=aws tag_key=ezlive-nomad tag_value=server"]
  }

  meta {
    ezlive_role = "transcoder"
  }

  # Keep room for the agent and the OS; transcoders ask for the rest.
  reserved {
    cpu    = 500
    memory = 512
  }

  # Ingest ports (RTMP listeners) come from this range: open it to the
  # ingest gateway in the security group.
  min_dynamic_port = 20000
  max_dynamic_port = 32000

  # A transcoder whose node lost the servers keeps running (the job's
  # disconnect block); the scheduler fences it by generation.
  gc_max_allocs = 200
}

# Transcoders run as plain processes so ffmpeg gets the whole machine.
plugin "raw_exec" {
  config {
    enabled = true
  }
}

# Mutual TLS: tls.hcl, loaded beside this file by every agent.

acl {
  enabled = true
}

telemetry {
  publish_allocation_metrics = true
  publish_node_metrics       = true
  prometheus_metrics         = true
}
