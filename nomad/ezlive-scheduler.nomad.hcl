# The ezlive scheduler: consumes commands, places live jobs on the worker
# nodes through this same Nomad cluster. Stateless; two for availability.
#
#   nomad acl policy apply -namespace default -job ezlive_scheduler \
#     -description "ezlive scheduler: places transcoders" ezlive-scheduler nomad/scheduler-policy.hcl
#   nomad job run nomad/ezlive-scheduler.nomad.hcl
#
# It reaches Nomad through the Task API socket of its own client agent
# (NOMAD_ADDR=unix://<secrets dir>/api.sock) with its workload identity's
# token (NOMAD_TOKEN), so it needs no agent address and works the same with
# or without TLS; the policy above is what that identity may do. Set
# -var nomad_addr=... to use another address instead (then NOMAD_CACERT etc.
# come from the node's environment).
#
# Settings: a variable left empty sets nothing, so the node's environment
# decides (see ezlive-api.nomad.hcl); every item of the Nomad Variable
# nomad/jobs/ezlive_scheduler (e.g. EZLIVE_WEBHOOK_SECRET) becomes an
# environment variable of the task.

variable "ezlive_bin" {
  type        = string
  description = "Path of the ezlive binary on the nodes."
  default     = "/usr/local/bin/ezlive"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "node_class" {
  type        = string
  description = "Node class of the nodes allowed to receive from the queue (terraform/: scheduler); empty: any node of the pool."
  default     = "scheduler"
}

variable "instances" {
  type        = number
  description = "Schedulers, on distinct nodes."
  default     = 2
}

variable "nomad_addr" {
  type        = string
  description = "Nomad HTTP API address for the driver; empty: the Task API socket of the local agent."
  default     = ""
}

variable "redis_addr" {
  type    = string
  default = ""
}

variable "redis_tls" {
  type    = string
  default = ""
}

variable "queue" {
  type    = string
  default = ""
}

variable "sqs_queue_url" {
  type    = string
  default = ""
}

variable "origin_url" {
  type        = string
  description = "Origin base URL transcoders upload to; empty: the node's EZLIVE_ORIGIN_URL."
  default     = ""
}

variable "worker_node_pool" {
  type    = string
  default = ""
}

variable "worker_node_class" {
  type    = string
  default = ""
}

variable "worker_ezlive_bin" {
  type        = string
  description = "Path of ezlive on the worker nodes; empty: the node's EZLIVE_BIN, else ezlive on the worker's PATH."
  default     = ""
}

variable "webhook_url" {
  type    = string
  default = ""
}

variable "log_level" {
  type    = string
  default = ""
}

variable "log_format" {
  type    = string
  default = ""
}

locals {
  settings = {
    EZLIVE_REDIS_ADDR       = var.redis_addr
    EZLIVE_REDIS_TLS        = var.redis_tls
    EZLIVE_QUEUE            = var.queue
    EZLIVE_SQS_QUEUE_URL    = var.sqs_queue_url
    EZLIVE_ORIGIN_URL       = var.origin_url
    EZLIVE_NOMAD_NODE_POOL  = var.worker_node_pool
    EZLIVE_NOMAD_NODE_CLASS = var.worker_node_class
    EZLIVE_BIN              = var.worker_ezlive_bin
    EZLIVE_WEBHOOK_URL      = var.webhook_url
    EZLIVE_LOG_LEVEL        = var.log_level
    EZLIVE_LOG_FORMAT       = var.log_format
  }
  # The Task API socket is in the task's secrets directory, known only at run time.
  nomad_addr = var.nomad_addr != "" ? jsonencode(var.nomad_addr) : "unix://{{ env \"NOMAD_SECRETS_DIR\" }}/api.sock"
}

# ezlive_scheduler, not ezlive-scheduler: live jobs run as ezlive-<job id>. The scheduler knows
# its own by their meta (ezlive_job_id) and touches nothing else, and the
# distinct name keeps the two apart for operators and for older schedulers.
job "ezlive_scheduler" {
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  # Only nodes whose instance role may receive from the queue (terraform/).
  dynamic "constraint" {
    for_each = var.node_class == "" ? [] : [var.node_class]
    content {
      attribute = "${node.class}"
      value     = constraint.value
    }
  }

  constraint {
    distinct_hosts = true
  }

  group "scheduler" {
    count = var.instances

    network {
      port "health" {}
    }

    # Nothing routes to a scheduler: a short delay between deregistering the
    # service and SIGTERM is enough.
    shutdown_delay = "2s"

    service {
      name     = "ezlive-scheduler"
      provider = "nomad"
      port     = "health"

      # /readyz: 503 while Redis, the queue or Nomad (with this task's
      # token) does not answer.
      check {
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    update {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "10s"
      auto_revert      = true
    }

    task "scheduler" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args    = ["scheduler", "-driver", "nomad", "-listen", "${NOMAD_ADDR_health}"]
      }

      # NOMAD_TOKEN for the driver, from the task's workload identity.
      identity {
        env = true
      }

      template {
        destination = "local/settings.env"
        env         = true
        data = join("\n", concat(["# from the job's variables", "NOMAD_ADDR=${local.nomad_addr}"],
        [for k, v in local.settings : "${k}=${jsonencode(v)}" if v != ""]))
      }

      template {
        destination = "secrets/ezlive.env"
        env         = true
        data        = <<-EOT
          {{- if nomadVarExists "nomad/jobs/ezlive_scheduler" }}{{ range $k, $v := nomadVar "nomad/jobs/ezlive_scheduler" }}
          {{ $k }}={{ $v | toJSON }}
          {{- end }}{{ end }}
        EOT
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
