# The ezlive origin: receives ffmpeg's HTTP PUT/DELETE of segments and
# manifests, serves them to players (behind a CDN).
#
#   nomad job run nomad/ezlive-origin.nomad.hcl
#
# One instance, on purpose: blocking playlist reloads (LL-HLS) wait in the
# process that receives the uploads, so two origins behind one load balancer
# would keep players waiting for parts the other one stored. Its files live
# under -root on the node: terraform/ mounts EFS there on every origin node,
# so Nomad can restart it on another one and the live window survives. On
# node disk, losing the node loses the window (players recover as the
# transcoders upload new segments) and the old outputs.
#
# Settings: a variable left empty sets nothing, so the node's environment
# decides (see ezlive-api.nomad.hcl); every item of the Nomad Variable
# nomad/jobs/ezlive_origin becomes an environment variable of the task.

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
  description = "Node class of the nodes that hold the origin's files (terraform/: origin); empty: any node of the pool."
  default     = "origin"
}

variable "port" {
  type        = number
  description = "Static port the load balancers send to (terraform/: origin_port)."
  default     = 1081
}

variable "redis_addr" {
  type    = string
  default = ""
}

variable "redis_tls" {
  type    = string
  default = ""
}

variable "root" {
  type        = string
  description = "Directory of the outputs; empty: the node's EZLIVE_ORIGIN_ROOT (ezlive's default: data/origin in the task directory)."
  default     = ""
}

variable "drain" {
  type        = string
  description = "How long the origin keeps serving after SIGTERM with /readyz at 503 (ezlive's default 5s)."
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
  settings = {
    EZLIVE_REDIS_ADDR   = var.redis_addr
    EZLIVE_REDIS_TLS    = var.redis_tls
    EZLIVE_ORIGIN_ROOT  = var.root
    EZLIVE_ORIGIN_DRAIN = var.drain
    EZLIVE_LOG_LEVEL    = var.log_level
    EZLIVE_LOG_FORMAT   = var.log_format
  }
}

# ezlive_origin, not ezlive-origin: live jobs run as ezlive-<job id>. The scheduler knows
# its own by their meta (ezlive_job_id) and touches nothing else, and the
# distinct name keeps the two apart for operators and for older schedulers.
job "ezlive_origin" {
  type        = "service"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  dynamic "constraint" {
    for_each = var.node_class == "" ? [] : [var.node_class]
    content {
      attribute = "${node.class}"
      value     = constraint.value
    }
  }

  group "origin" {
    count = 1

    network {
      port "http" {
        static = var.port
      }
    }

    # See ezlive-api.nomad.hcl: deregister, wait, SIGTERM, then -drain.
    shutdown_delay = "5s"

    service {
      name     = "ezlive-origin"
      provider = "nomad"
      port     = "http"

      # /readyz: 503 while Redis (which authorizes every upload) does not
      # answer, or draining.
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

    task "origin" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args    = ["origin", "-listen", "${NOMAD_ADDR_http}"]
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
          {{- if nomadVarExists "nomad/jobs/ezlive_origin" }}{{ range $k, $v := nomadVar "nomad/jobs/ezlive_origin" }}
          {{ $k }}={{ $v | toJSON }}
          {{- end }}{{ end }}
        EOT
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 1000
        memory = 512
      }
    }
  }
}
