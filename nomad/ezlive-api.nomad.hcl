# The ezlive REST API: stateless, so run several behind the load balancer.
# nomad job run -var redis_addr=redis.internal:6379 -var sqs_queue_url=https://... ezlive-api.nomad.hcl

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

job "ezlive-api" {
  type      = "service"
  node_pool = "default"

  # Only nodes whose instance role may send to the queue (terraform/).
  constraint {
    attribute = "${node.class}"
    value     = "api"
  }

  group "api" {
    count = 2

    network {
      port "http" {
        static = 1080
      }
    }

    service {
      name     = "ezlive-api"
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
        args = [
          "api",
          "-listen", "${NOMAD_ADDR_http}",
          "-redis", var.redis_addr,
          "-queue", var.queue,
          "-sqs-queue-url", var.sqs_queue_url,
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
