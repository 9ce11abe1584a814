# The ezlive origin: receives ffmpeg's HTTP PUT/DELETE of segments and
# manifests, serves them to players (behind a CDN). Its files live on the
# node's disk, so it is pinned to the nodes of class "origin".

variable "ezlive_bin" {
  type    = string
  default = "/usr/local/bin/ezlive"
}

variable "redis_addr" {
  type    = string
  default = "127.0.0.1:6379"
}

variable "root" {
  type    = string
  default = "/var/lib/ezlive/origin"
}

job "ezlive-origin" {
  type      = "service"
  node_pool = "default"

  constraint {
    attribute = "${node.class}"
    value     = "origin"
  }

  group "origin" {
    count = 1

    network {
      port "http" {
        static = 1081
      }
    }

    service {
      name     = "ezlive-origin"
      provider = "nomad"
      port     = "http"

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

    task "origin" {
      driver = "raw_exec"

      config {
        command = var.ezlive_bin
        args = [
          "origin",
          "-listen", "${NOMAD_ADDR_http}",
          "-root", var.root,
          "-redis", var.redis_addr,
        ]
      }

      kill_signal  = "SIGTERM"
      kill_timeout = "15s"

      resources {
        cpu    = 1000
        memory = 512
      }
    }
  }
}
