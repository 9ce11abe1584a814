# Load balancers, the only ways in from outside the VPC:
# - api: public ALB -> `ezlive api` on the api node group.
# - ingest: public NLB, TCP rtmp_port -> the ingest gateway on every worker
#   (workers are in private subnets, so this is publishers' only path).
# - origin: public ALB that only CloudFront reaches, over HTTPS with
#   origin_domain_name's certificate; forwards reads only.
# - internal: private ALB -> origin writes (PUT/DELETE from transcoders on
#   origin_port).
# - nomad: private NLB -> Nomad servers' HTTPS API (4646), passed through
#   as TCP so clients verify the servers' own certificate (mutual TLS).

locals {
  # The api, origin and ingest target groups check /readyz this often and
  # drop a target after this many failures. A stopping ezlive server answers
  # 503 there at once and keeps serving for drain_seconds (its -drain, from
  # the node settings file), a little longer than the load balancer takes to
  # notice; the Nomad jobs' kill_timeout (30s) covers their shutdown_delay,
  # the drain and a graceful shutdown.
  lb_check_interval      = 5
  lb_check_timeout       = 3
  lb_unhealthy_threshold = 2
  drain_seconds          = local.lb_check_interval * local.lb_unhealthy_threshold + 5
}

# --- API -------------------------------------------------------------------------

resource "aws_lb" "api" {
  name                       = "${local.name}-api"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb_api.id]
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "api" {
  name                 = "${local.name}-api"
  port                 = var.api_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = 30

  health_check {
    path                = var.api_health_path
    matcher             = "200"
    interval            = local.lb_check_interval
    timeout             = local.lb_check_timeout
    healthy_threshold   = 2
    unhealthy_threshold = local.lb_unhealthy_threshold
  }
}

resource "aws_lb_listener" "api_http" {
  count = var.api_certificate_arn == null ? 1 : 0

  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_listener" "api_https" {
  count = var.api_certificate_arn == null ? 0 : 1

  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.api_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_listener" "api_redirect" {
  count = var.api_certificate_arn == null ? 0 : 1

  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# --- ingest -------------------------------------------------------------------------

resource "aws_lb" "ingest" {
  name                             = "${local.name}-ingest"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  enable_cross_zone_load_balancing = true
  # Publishers are filtered here; the workers take RTMP and health checks
  # only from this group (security_groups.tf), client address preserved.
  security_groups = [aws_security_group.nlb_ingest.id]
}

resource "aws_lb_target_group" "ingest" {
  name                 = "${local.name}-ingest"
  port                 = var.rtmp_port
  protocol             = "TCP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = 30

  # HTTP on the gateway's health port: a TCP probe of the RTMP port is a
  # failed handshake in its log and counts against the source's rate limit.
  health_check {
    protocol            = "HTTP"
    port                = var.ingest_health_port
    path                = "/readyz"
    matcher             = "200"
    interval            = local.lb_check_interval
    timeout             = local.lb_check_timeout
    healthy_threshold   = 2
    unhealthy_threshold = local.lb_unhealthy_threshold
  }
}

resource "aws_lb_listener" "ingest_rtmp" {
  load_balancer_arn = aws_lb.ingest.arn
  port              = var.rtmp_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.ingest.arn
  }
}

# --- origin (reads, behind CloudFront) --------------------------------------------------

resource "aws_lb" "origin" {
  name                       = "${local.name}-origin"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb_origin.id]
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "origin_read" {
  name                 = "${local.name}-orig-r"
  port                 = var.origin_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = 15

  health_check {
    path                = var.origin_health_path
    matcher             = "200"
    interval            = local.lb_check_interval
    timeout             = local.lb_check_timeout
    healthy_threshold   = 2
    unhealthy_threshold = local.lb_unhealthy_threshold
  }
}

# HTTPS only: CloudFront connects with origin_protocol_policy "https-only"
# and checks this certificate against origin_domain_name (delivery.tf).
resource "aws_lb_listener" "origin_read" {
  load_balancer_arn = aws_lb.origin.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.origin_certificate_arn

  # Writes never come through the public side, whatever their token says.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "method not allowed"
      status_code  = "405"
    }
  }
}

resource "aws_lb_listener_rule" "origin_read" {
  listener_arn = aws_lb_listener.origin_read.arn
  priority     = 10

  condition {
    http_request_method {
      values = ["GET", "HEAD", "OPTIONS"]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.origin_read.arn
  }
}

# --- internal: origin writes ---------------------------------------------------------------

resource "aws_lb" "internal" {
  name                       = "${local.name}-internal"
  load_balancer_type         = "application"
  internal                   = true
  subnets                    = aws_subnet.private[*].id
  security_groups            = [aws_security_group.alb_internal.id]
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "origin_write" {
  name                 = "${local.name}-orig-w"
  port                 = var.origin_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = 15

  health_check {
    path                = var.origin_health_path
    matcher             = "200"
    interval            = local.lb_check_interval
    timeout             = local.lb_check_timeout
    healthy_threshold   = 2
    unhealthy_threshold = local.lb_unhealthy_threshold
  }
}

resource "aws_lb_listener" "origin_write" {
  load_balancer_arn = aws_lb.internal.arn
  port              = var.origin_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.origin_write.arn
  }
}

# --- nomad: the servers' HTTPS API for operators ---------------------------------------------

# TCP passthrough: TLS ends at the Nomad servers, whose certificate names
# server.global.nomad (set NOMAD_TLS_SERVER_NAME, README.md), so no
# certificate of the load balancer's own stands between operator and server.
resource "aws_lb" "nomad" {
  name                             = "${local.name}-nomad"
  load_balancer_type               = "network"
  internal                         = true
  subnets                          = aws_subnet.private[*].id
  enable_cross_zone_load_balancing = true
  security_groups                  = [aws_security_group.nlb_nomad.id]
}

resource "aws_lb_target_group" "nomad" {
  name                 = "${local.name}-nomad"
  port                 = 4646
  protocol             = "TCP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = 30

  # HTTPS without a client certificate: the agents do not require one on
  # the HTTP API (verify_https_client = false, nomad/tls.hcl), where ACL
  # tokens guard every call; this endpoint needs none.
  health_check {
    protocol            = "HTTPS"
    path                = "/v1/agent/health?type=server"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "nomad" {
  load_balancer_arn = aws_lb.nomad.arn
  port              = 4646
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.nomad.arn
  }
}
