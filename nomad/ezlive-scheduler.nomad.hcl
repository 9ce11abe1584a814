# The ezlive scheduler: consumes commands, places live jobs on the worker
# nodes through this same Nomad cluster. Stateless; two for availability.
# Its workload identity needs an ACL policy that may submit and read jobs
# and read nodes, e.g.:
#   nomad acl policy apply -namespace default -job ezlive-scheduler ezlive-scheduler scheduler-policy.hcl

variable "ezlive_bin" {
  type    = string
  default = "/usr/local/bin/ezlive"
}

variable "redis_addr" {
  type    = string
  default = "127.0.0.1:6379"
}

variable "queue" {
  type    = string
  default = "sqs"
}

variable "sqs_queue_url" {
  type    = string
  default = ""
}

variable "origin_url" {
  type    = string
  default = "http://origin.internal:1081"
}

job "ezlive-scheduler" {
  type      = "service"
  node_pool = "default"

  # Only nodes whose instance role may receive from the queue (terraform/).
  constraint {
    attribute = "${node.class}"
    value     = "scheduler"
  }

  group "scheduler" {
    count = 2

    network {
      port "health" {}
    }

    # /healthz answers while the process runs; Nomad restarts it when it
    # exits or the check fails.
    service {
      name     = "ezlive-scheduler"
      provider = "nomad"
      port     = "health"

      check {
        type     = "http"
        path     = "/healthz"
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

    task "scheduler" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args = [
          "scheduler",
          "-redis", var.redis_addr,
          "-queue", var.queue,
          "-sqs-queue-url", var.sqs_queue_url,
          "-driver", "nomad",
          "-origin", var.origin_url,
          "-ezlive-bin", var.ezlive_bin,
          "-listen", "${NOMAD_ADDR_health}",
        ]
      }

      # NOMAD_TOKEN for the driver, from the task's workload identity.
      identity {
        env = true
      }

      env {
        NOMAD_ADDR = "http://${attr.unique.network.ip-address}:4646"
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
