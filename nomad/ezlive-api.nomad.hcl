# The ezlive REST API: stateless, so run several behind the load balancer.
#
#   nomad job run nomad/ezlive-api.nomad.hcl
#   nomad job run -var redis_addr=redis.internal:6379 -var queue=sqs -var sqs_queue_url=https://... \
#     -var playback_base_url=https://cdn.example.com -var ingest_gateway=rtmp://ingest.example.com/live \
#     nomad/ezlive-api.nomad.hcl
#
# Settings: a variable left empty sets nothing, so the node's environment
# decides: the Nomad client agent's environment, which raw_exec tasks inherit,
# then /etc/ezlive/ezlive.env (terraform/ writes both), then ezlive's
# defaults. Secrets never go in variables or args: every item of the Nomad
# Variable nomad/jobs/ezlive_api becomes an environment variable of the task,
#   nomad var put nomad/jobs/ezlive_api EZLIVE_API_TOKEN=$(openssl rand -hex 32)
# (restart the job after changing it). Without a token the API refuses to
# listen on the node's address (EZLIVE_API_INSECURE=true overrides that).

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
  description = "Node class of the nodes allowed to send to the queue (terraform/: api); empty: any node of the pool."
  default     = "api"
}

variable "instances" {
  type        = number
  description = "API instances, on distinct nodes."
  default     = 2
}

variable "port" {
  type        = number
  description = "Static port the load balancer sends to (terraform/: api_port)."
  default     = 1080
}

variable "redis_addr" {
  type    = string
  default = ""
}

variable "redis_tls" {
  type        = string
  description = "\"true\" or \"false\"; empty: the node's EZLIVE_REDIS_TLS."
  default     = ""
}

variable "queue" {
  type        = string
  description = "redis or sqs; empty: the node's EZLIVE_QUEUE (ezlive's default: redis)."
  default     = ""
}

variable "sqs_queue_url" {
  type    = string
  default = ""
}

variable "playback_base_url" {
  type        = string
  description = "Public base URL of the origin (the CDN) for Playback_url; empty: the node's EZLIVE_PLAYBACK_BASE_URL."
  default     = ""
}

variable "ingest_gateway" {
  type        = string
  description = "Base of the stable ingest URLs, rtmp://<ingest host>/live; empty: the node's EZLIVE_INGEST_GATEWAY."
  default     = ""
}

variable "ingest_srt_gateway" {
  type    = string
  default = ""
}

variable "drain" {
  type        = string
  description = "How long the API keeps serving after SIGTERM with /readyz at 503 (ezlive's default 5s); cover the load balancer's interval x unhealthy threshold."
  default     = ""
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
  # Written to the task's environment when not empty (the flags' EZLIVE_*
  # fallbacks), so that an unset variable leaves the node's value in charge.
  settings = {
    EZLIVE_REDIS_ADDR         = var.redis_addr
    EZLIVE_REDIS_TLS          = var.redis_tls
    EZLIVE_QUEUE              = var.queue
    EZLIVE_SQS_QUEUE_URL      = var.sqs_queue_url
    EZLIVE_PLAYBACK_BASE_URL  = var.playback_base_url
    EZLIVE_INGEST_GATEWAY     = var.ingest_gateway
    EZLIVE_INGEST_SRT_GATEWAY = var.ingest_srt_gateway
    EZLIVE_API_DRAIN          = var.drain
    EZLIVE_LOG_LEVEL          = var.log_level
    EZLIVE_LOG_FORMAT         = var.log_format
  }
}

# ezlive_api, not ezlive-api: live jobs run as ezlive-<job id>. The scheduler knows
# its own by their meta (ezlive_job_id) and touches nothing else, and the
# distinct name keeps the two apart for operators and for older schedulers.
job "ezlive_api" {
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  # Only nodes whose instance role may send to the queue (terraform/).
  dynamic "constraint" {
    for_each = var.node_class == "" ? [] : [var.node_class]
    content {
      attribute = "${node.class}"
      value     = constraint.value
    }
  }

  # Two instances on one node are one failure away from none.
  constraint {
    distinct_hosts = true
  }

  group "api" {
    count = var.instances

    network {
      port "http" {
        static = var.port
      }
    }

    # Nomad removes the service, waits this long, then sends SIGTERM; the
    # API then answers 503 on /readyz for -drain while still serving, so
    # load balancers that check /readyz stop sending before it stops.
    shutdown_delay = "5s"

    service {
      name     = "ezlive-api"
      provider = "nomad"
      port     = "http"

      # /readyz: 503 while Redis or the queue does not answer, or draining.
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

    task "api" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args    = ["api", "-listen", "${NOMAD_ADDR_http}"]
      }

      template {
        destination = "local/settings.env"
        env         = true
        data        = join("\n", concat(["# from the job's variables"], [for k, v in local.settings : "${k}=${jsonencode(v)}" if v != ""]))
      }

      template {
        destination = "secrets/ezlive.env"
        env         = true
        data        = <<-EOT
          {{- if nomadVarExists "nomad/jobs/ezlive_api" }}{{ range $k, $v := nomadVar "nomad/jobs/ezlive_api" }}
          {{ $k }}={{ $v | toJSON }}
          {{- end }}{{ end }}
        EOT
      }

      # Longer than shutdown, drain and graceful close together.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
