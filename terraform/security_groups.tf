# Security groups. Instances take traffic only from load balancers, from
# each other and from Nomad servers (never from an address range): publishers
# reach the workers' ingest gateway only through the ingest NLB, users the
# API only through its load balancer, players the origin only through
# CloudFront; Nomad, Redis and the origin's file system stay private.

locals {
  api_listener_ports = var.api_certificate_arn == null ? [80] : [80, 443]

  # Every group that sends traffic out (package installs, SQS, SSM, targets).
  egress_security_groups = {
    alb_api      = aws_security_group.alb_api.id
    alb_origin   = aws_security_group.alb_origin.id
    alb_internal = aws_security_group.alb_internal.id
    nlb_ingest   = aws_security_group.nlb_ingest.id
    nlb_nomad    = aws_security_group.nlb_nomad.id
    nomad_server = aws_security_group.nomad_server.id
    nomad_client = aws_security_group.nomad_client.id
  }
}

data "aws_ec2_managed_prefix_list" "cloudfront" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb_api" {
  name        = "${local.name}-alb-api"
  description = "Public load balancer in front of ezlive api"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-alb-api" }
}

resource "aws_security_group" "alb_origin" {
  name        = "${local.name}-alb-origin"
  description = "Origin load balancer that only CloudFront reaches (reads)"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-alb-origin" }
}

resource "aws_security_group" "alb_internal" {
  name        = "${local.name}-alb-internal"
  description = "Internal load balancer: origin writes from transcoders"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-alb-internal" }
}

resource "aws_security_group" "nlb_ingest" {
  name        = "${local.name}-nlb-ingest"
  description = "Ingest load balancer: publishers' RTMP"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-nlb-ingest" }
}

resource "aws_security_group" "nlb_nomad" {
  name        = "${local.name}-nlb-nomad"
  description = "Internal load balancer of the Nomad servers' HTTPS API"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-nlb-nomad" }
}

resource "aws_security_group" "nomad_server" {
  name        = "${local.name}-nomad-server"
  description = "Nomad servers"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-nomad-server" }
}

resource "aws_security_group" "nomad_client" {
  name        = "${local.name}-nomad-client"
  description = "Every Nomad client: workers and control-plane nodes"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-nomad-client" }
}

resource "aws_security_group" "worker" {
  name        = "${local.name}-worker"
  description = "Transcoding workers: ingest from publishers"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-worker" }
}

resource "aws_security_group" "api" {
  name        = "${local.name}-api"
  description = "Nodes running the ezlive api job"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-api" }
}

resource "aws_security_group" "origin" {
  name        = "${local.name}-origin"
  description = "Nodes running the ezlive origin job"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-origin" }
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "ElastiCache Redis, reachable from Nomad clients only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-redis" }
}

resource "aws_security_group" "efs" {
  name        = "${local.name}-efs"
  description = "Origin storage (EFS), reachable from origin nodes only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-efs" }
}

resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = local.egress_security_groups

  security_group_id = each.value
  description       = "All outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# --- API ---------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_api_from_users" {
  for_each = { for pair in setproduct(var.api_allowed_cidrs, local.api_listener_ports) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.alb_api.id
  description       = "REST API clients"
  ip_protocol       = "tcp"
  cidr_ipv4         = each.value[0]
  from_port         = each.value[1]
  to_port           = each.value[1]
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "ezlive api from its load balancer"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.alb_api.id
  from_port                    = var.api_port
  to_port                      = var.api_port
}

# --- origin --------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_origin_from_cloudfront" {
  security_group_id = aws_security_group.alb_origin.id
  description       = "CloudFront origin-facing addresses only, HTTPS"
  ip_protocol       = "tcp"
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront.id
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "origin_from_albs" {
  for_each = {
    reads  = aws_security_group.alb_origin.id
    writes = aws_security_group.alb_internal.id
  }

  security_group_id            = aws_security_group.origin.id
  description                  = "ezlive origin from the ${each.key} load balancer"
  ip_protocol                  = "tcp"
  referenced_security_group_id = each.value
  from_port                    = var.origin_port
  to_port                      = var.origin_port
}

resource "aws_vpc_security_group_ingress_rule" "alb_internal_origin_writes" {
  security_group_id            = aws_security_group.alb_internal.id
  description                  = "Segment and manifest PUT/DELETE from transcoders"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.worker.id
  from_port                    = var.origin_port
  to_port                      = var.origin_port
}

resource "aws_vpc_security_group_ingress_rule" "efs_from_origin" {
  security_group_id            = aws_security_group.efs.id
  description                  = "NFS from origin nodes"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.origin.id
  from_port                    = 2049
  to_port                      = 2049
}

# --- ingest ----------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "nlb_ingest_from_publishers" {
  for_each = toset(var.publisher_cidrs)

  security_group_id = aws_security_group.nlb_ingest.id
  description       = "RTMP from publishers"
  ip_protocol       = "tcp"
  cidr_ipv4         = each.value
  from_port         = var.rtmp_port
  to_port           = var.rtmp_port
}

# Referencing the NLB's group admits its traffic even with the client's
# address preserved, and nothing else: workers have no public address and
# no other way in from the internet.
resource "aws_vpc_security_group_ingress_rule" "worker_from_ingest_nlb" {
  for_each = {
    rtmp   = var.rtmp_port
    health = var.ingest_health_port
  }

  security_group_id            = aws_security_group.worker.id
  description                  = "Ingest NLB to the gateway (${each.key})"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.nlb_ingest.id
  from_port                    = each.value
  to_port                      = each.value
}

# Transcoders take publishers only from the ingest gateways (the relay rule
# below): their dynamic ports are not open to the internet, so the stream key
# is always checked first.
resource "aws_vpc_security_group_ingress_rule" "worker_ingest_relay" {
  security_group_id            = aws_security_group.worker.id
  description                  = "Ingest gateway on one worker relaying to a transcoder on another"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.worker.id
  from_port                    = var.ingest_port_range.from
  to_port                      = var.ingest_port_range.to
}

# --- Nomad ------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "nlb_nomad_from_admins" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.nlb_nomad.id
  description       = "Nomad API/UI for operators (HTTPS)"
  ip_protocol       = "tcp"
  cidr_ipv4         = each.value
  from_port         = 4646
  to_port           = 4646
}

resource "aws_vpc_security_group_ingress_rule" "nlb_nomad_from_clients" {
  security_group_id            = aws_security_group.nlb_nomad.id
  description                  = "Nomad API from client nodes (a scheduler given -var nomad_addr)"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.nomad_client.id
  from_port                    = 4646
  to_port                      = 4646
}

resource "aws_vpc_security_group_ingress_rule" "nomad_server_http" {
  for_each = {
    nlb     = aws_security_group.nlb_nomad.id
    clients = aws_security_group.nomad_client.id
    servers = aws_security_group.nomad_server.id
  }

  security_group_id            = aws_security_group.nomad_server.id
  description                  = "Nomad HTTPS API from ${each.key}"
  ip_protocol                  = "tcp"
  referenced_security_group_id = each.value
  from_port                    = 4646
  to_port                      = 4646
}

resource "aws_vpc_security_group_ingress_rule" "nomad_server_rpc" {
  for_each = {
    clients = aws_security_group.nomad_client.id
    servers = aws_security_group.nomad_server.id
  }

  security_group_id            = aws_security_group.nomad_server.id
  description                  = "Nomad RPC from ${each.key}"
  ip_protocol                  = "tcp"
  referenced_security_group_id = each.value
  from_port                    = 4647
  to_port                      = 4647
}

resource "aws_vpc_security_group_ingress_rule" "nomad_server_serf" {
  for_each = toset(["tcp", "udp"])

  security_group_id            = aws_security_group.nomad_server.id
  description                  = "Nomad server gossip (serf, ${each.value})"
  ip_protocol                  = each.value
  referenced_security_group_id = aws_security_group.nomad_server.id
  from_port                    = 4648
  to_port                      = 4648
}

resource "aws_vpc_security_group_ingress_rule" "nomad_client_from_servers" {
  security_group_id            = aws_security_group.nomad_client.id
  description                  = "Nomad servers to client agents (alloc logs, exec, fs)"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.nomad_server.id
  from_port                    = 4646
  to_port                      = 4647
}

# --- Redis ------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "redis_from_clients" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS + AUTH) from Nomad clients"
  ip_protocol                  = "tcp"
  referenced_security_group_id = aws_security_group.nomad_client.id
  from_port                    = 6379
  to_port                      = 6379
}
