# The ezlive ingest gateway: one stable, authenticated RTMP URL per stream
# key, rtmp://<ingest host>/live/<stream key>. It runs on every worker node
# (a system job) behind a TCP load balancer (terraform/); each instance
# checks the key in Redis and relays the publisher to the job's current
# transcoder, wherever Nomad runs it, so the URL survives stop, resume and
# re-placement. Transcoders listen on the nodes' private addresses only.

variable "ezlive_bin" {
  type    = string
  default = "/usr/local/bin/ezlive"
}

variable "redis_addr" {
  type    = string
  default = "127.0.0.1:6379"
}

job "ezlive-ingest" {
  type      = "system"
  node_pool = "ezlive-workers"

  group "ingest" {
    network {
      port "rtmp" {
        static = 1935
      }
    }

    service {
      name     = "ezlive-ingest"
      provider = "nomad"
      port     = "rtmp"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    task "ingest" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args = [
          "ingest",
          "-listen", "${NOMAD_ADDR_rtmp}",
          "-redis", var.redis_addr,
        ]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "15s"

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
