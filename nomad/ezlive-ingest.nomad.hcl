# The ezlive ingest gateway: one stable, authenticated RTMP URL per stream
# key, rtmp://<ingest host>/live/<stream key>. It runs on every worker node
# (a system job) behind a TCP load balancer (terraform/); each instance
# checks the key in Redis and relays the publisher to the job's current
# transcoder, wherever Nomad runs it, so the URL survives stop, resume and
# re-placement. Transcoders listen on the nodes' private addresses only.
#
#   nomad job run nomad/ezlive-ingest.nomad.hcl
#
# Health is HTTP on its own port (-health-listen), so neither Nomad nor the
# load balancer probes the RTMP port: a probe there is a failed handshake in
# the log and an attempt against its source's per-minute limit. Point the
# load balancer's health check at http://<node>:<health_port>/readyz.
#
# Settings: a variable left empty sets nothing, so the node's environment
# decides (see ezlive-api.nomad.hcl); every item of the Nomad Variable
# nomad/jobs/ezlive_ingest (e.g. EZLIVE_INGEST_SRT_PASSPHRASE) becomes an
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
  type        = string
  description = "The worker nodes' pool: every node of it runs a gateway."
  default     = "ezlive-workers"
}

variable "port" {
  type        = number
  description = "Static RTMP port the load balancer sends publishers to (terraform/: rtmp_port)."
  default     = 1935
}

variable "health_port" {
  type        = number
  description = "Static port of the gateway's /healthz and /readyz (terraform/: ingest_health_port)."
  default     = 1936
}

variable "redis_addr" {
  type    = string
  default = ""
}

variable "redis_tls" {
  type    = string
  default = ""
}

variable "drain" {
  type        = string
  description = "How long the gateway keeps taking publishers after SIGTERM with /readyz at 503 (ezlive's default 5s)."
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
    EZLIVE_INGEST_DRAIN = var.drain
    EZLIVE_LOG_LEVEL    = var.log_level
    EZLIVE_LOG_FORMAT   = var.log_format
  }
}

# ezlive_ingest, not ezlive-ingest: live jobs run as ezlive-<job id>. The scheduler knows
# its own by their meta (ezlive_job_id) and touches nothing else, and the
# distinct name keeps the two apart for operators and for older schedulers.
job "ezlive_ingest" {
  type        = "system"
  datacenters = var.datacenters
  node_pool   = var.node_pool

  group "ingest" {
    network {
      port "rtmp" {
        static = var.port
      }
      port "health" {
        static = var.health_port
      }
    }

    # See ezlive-api.nomad.hcl: deregister, wait, SIGTERM, then -drain.
    shutdown_delay = "5s"

    service {
      name     = "ezlive-ingest"
      provider = "nomad"
      port     = "rtmp"

      # /readyz: 503 while Redis (where every stream key is checked) does
      # not answer, or draining.
      check {
        type     = "http"
        port     = "health"
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

    task "ingest" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args    = ["ingest", "-listen", "${NOMAD_ADDR_rtmp}", "-health-listen", "${NOMAD_ADDR_health}"]
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
          {{- if nomadVarExists "nomad/jobs/ezlive_ingest" }}{{ range $k, $v := nomadVar "nomad/jobs/ezlive_ingest" }}
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
