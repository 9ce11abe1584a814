# Nomad servers and the Nomad client node groups. Every instance boots Debian
# 12 and runs a user-data script (templates/) that installs Nomad and writes
# the agent configuration kept in nomad/; clients also install ezlive (and
# ffmpeg on workers and origins). The control plane itself (api, scheduler, origin) then
# runs as Nomad jobs from nomad/*.nomad.hcl, see README.md.

locals {
  # One node group per IAM identity (see iam.tf). Node pool and class are
  # what the Nomad jobs target: the scheduler places transcoders on the
  # ezlive-workers pool (nomad/client.hcl); the control-plane jobs run in the
  # default pool and must pin themselves to their group's node class, or an
  # api allocation could land on a node whose role may not send to SQS.
  client_groups = {
    worker = {
      node_pool          = "ezlive-workers"
      node_class         = "transcode"
      instance_type      = var.worker_instance_type
      min_size           = var.worker_min_size
      max_size           = var.worker_max_size
      desired_capacity   = var.worker_desired_capacity
      subnet_ids         = aws_subnet.private[*].id # publishers reach them through the ingest NLB only
      security_group_ids = [aws_security_group.nomad_client.id, aws_security_group.worker.id]
      target_group_arns  = [aws_lb_target_group.ingest.arn]
      # EC2, not ELB: a worker whose ingest gateway restarts still carries live streams.
      health_check_type = "EC2"
      root_volume_gb    = var.worker_root_volume_gb
      install_ffmpeg    = true
      efs_dns_name      = ""
    }
    api = {
      node_pool          = "default"
      node_class         = "api"
      instance_type      = var.control_instance_type
      min_size           = var.control_node_count
      max_size           = var.control_node_count
      desired_capacity   = var.control_node_count
      subnet_ids         = aws_subnet.private[*].id
      security_group_ids = [aws_security_group.nomad_client.id, aws_security_group.api.id]
      target_group_arns  = [aws_lb_target_group.api.arn]
      health_check_type  = "EC2"
      root_volume_gb     = 20
      install_ffmpeg     = false
      efs_dns_name       = ""
    }
    scheduler = {
      node_pool          = "default"
      node_class         = "scheduler"
      instance_type      = var.control_instance_type
      min_size           = var.control_node_count
      max_size           = var.control_node_count
      desired_capacity   = var.control_node_count
      subnet_ids         = aws_subnet.private[*].id
      security_group_ids = [aws_security_group.nomad_client.id]
      target_group_arns  = []
      health_check_type  = "EC2"
      root_volume_gb     = 20
      install_ffmpeg     = false
      efs_dns_name       = ""
    }
    origin = {
      node_pool          = "default"
      node_class         = "origin"
      instance_type      = var.control_instance_type
      min_size           = var.control_node_count
      max_size           = var.control_node_count
      desired_capacity   = var.control_node_count
      subnet_ids         = aws_subnet.private[*].id
      security_group_ids = [aws_security_group.nomad_client.id, aws_security_group.origin.id]
      target_group_arns  = [aws_lb_target_group.origin_read.arn, aws_lb_target_group.origin_write.arn]
      health_check_type  = "EC2"
      root_volume_gb     = 20
      install_ffmpeg     = true # recordings' storyboards (docs/DESIGN.md)
      efs_dns_name       = aws_efs_file_system.origin.dns_name
    }
  }

  # The node groups whose processes read EZLIVE_DRM_KEK (`ezlive api` and
  # `ezlive origin`, which wrap and unwrap DRM content keys): only their
  # roles may read the KEK (iam.tf), only their user data fetches it.
  drm_kek_groups = toset(["api", "origin"])

  # What every ezlive process on a client learns from /etc/ezlive/ezlive.env
  # (the Nomad jobs leave these to the node unless given a variable).
  ezlive_environment = {
    redis_address          = "${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379"
    redis_token_parameter  = aws_ssm_parameter.redis_auth_token.name
    queue_url              = aws_sqs_queue.commands.url
    queue_visibility_sec   = var.queue_visibility_timeout_seconds
    origin_write_url       = "http://${aws_lb.internal.dns_name}:${var.origin_port}"
    playback_base_url      = "https://${aws_cloudfront_distribution.playback.domain_name}"
    ingest_host            = aws_lb.ingest.dns_name
    nomad_addr             = "https://${aws_lb.nomad.dns_name}:4646" # for operators: the scheduler uses its agent's Task API
    drain                  = "${local.drain_seconds}s"
    worker_node_pool       = local.client_groups.worker.node_pool
    worker_node_class      = local.client_groups.worker.node_class
    origin_data_dir        = "/var/lib/ezlive/origin" # the origin job's default -root
    origin_storage         = var.origin_storage
    outputs_bucket         = aws_s3_bucket.outputs.bucket
    api_port               = var.api_port
    origin_port            = var.origin_port
    rtmp_port              = var.rtmp_port
    nomad_min_dynamic_port = var.ingest_port_range.from
    nomad_max_dynamic_port = var.ingest_port_range.to
    ezlive_release_url     = var.ezlive_release_url
    ezlive_release_sha256  = var.ezlive_release_sha256
    nomad_version          = var.nomad_version
    region                 = var.region
    nomad_join_tag_key     = local.nomad_join_tag_key
    nomad_join_tag_value   = local.nomad_join_tag_value
  }
}

# Shell that sets up an agent's Nomad TLS: nomad/tls.hcl, and the files it
# names from SSM (the CA and the role's certificate and key).
locals {
  nomad_tls_files = {
    for role in ["server", "client"] : role => templatefile("${path.module}/templates/nomad-tls.sh.tftpl", {
      tls_hcl        = file("${local.nomad_dir}/tls.hcl")
      region         = var.region
      ca_parameter   = aws_ssm_parameter.nomad_tls["ca"].name
      cert_parameter = aws_ssm_parameter.nomad_tls["${role}-cert"].name
      key_parameter  = aws_ssm_parameter.nomad_tls["${role}-key"].name
    })
  }
}

# --- Nomad servers -----------------------------------------------------------------

resource "aws_launch_template" "nomad_server" {
  name_prefix            = "${local.name}-nomad-server-"
  description            = "Nomad servers of ${local.name}"
  image_id               = data.aws_ami.debian.id
  instance_type          = var.nomad_server_instance_type
  update_default_version = true

  user_data = base64encode(templatefile("${path.module}/templates/nomad-server.sh.tftpl", {
    server_hcl              = file("${local.nomad_dir}/server.hcl")
    scheduler_policy_hcl    = file("${local.nomad_dir}/scheduler-policy.hcl")
    nomad_tls_files         = local.nomad_tls_files["server"]
    nomad_version           = var.nomad_version
    bootstrap_expect        = var.nomad_server_count
    region                  = var.region
    gossip_key_parameter    = aws_ssm_parameter.nomad_gossip_key.name
    management_token_secret = aws_secretsmanager_secret.nomad_management_token.arn
    nomad_join_tag_key      = local.nomad_join_tag_key
    nomad_join_tag_value    = local.nomad_join_tag_value
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.nomad_server.arn
  }

  vpc_security_group_ids = [aws_security_group.nomad_server.id]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = data.aws_ami.debian.root_device_name

    ebs {
      volume_size           = 20
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.name}-nomad-server" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${local.name}-nomad-server" })
  }
}

resource "aws_autoscaling_group" "nomad_server" {
  name                      = "${local.name}-nomad-server"
  min_size                  = var.nomad_server_count
  max_size                  = var.nomad_server_count
  desired_capacity          = var.nomad_server_count
  vpc_zone_identifier       = aws_subnet.private[*].id
  target_group_arns         = [aws_lb_target_group.nomad.arn]
  health_check_type         = "EC2"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.nomad_server.id
    version = aws_launch_template.nomad_server.latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, {
      Name                       = "${local.name}-nomad-server"
      (local.nomad_join_tag_key) = local.nomad_join_tag_value
      NodeGroup                  = "nomad-server"
    })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Private instances install Nomad through the NAT gateways.
  depends_on = [aws_route.private_nat]
}

# --- Nomad clients --------------------------------------------------------------------

resource "aws_launch_template" "client" {
  for_each = local.client_groups

  name_prefix            = "${local.name}-${each.key}-"
  description            = "Nomad clients of the ${each.key} node group of ${local.name}"
  image_id               = data.aws_ami.debian.id
  instance_type          = each.value.instance_type
  update_default_version = true

  user_data = base64encode(templatefile("${path.module}/templates/nomad-client.sh.tftpl", merge(local.ezlive_environment, {
    client_hcl      = file("${local.nomad_dir}/client.hcl")
    nomad_tls_files = local.nomad_tls_files["client"]
    role            = each.key
    node_pool       = each.value.node_pool
    node_class      = each.value.node_class
    install_ffmpeg  = each.value.install_ffmpeg
    efs_dns_name    = each.value.efs_dns_name
    # "" on the groups that do not read it: their user data fetches nothing.
    drm_kek_parameter = contains(local.drm_kek_groups, each.key) ? aws_ssm_parameter.drm_kek.name : ""
  })))

  iam_instance_profile {
    arn = aws_iam_instance_profile.client[each.key].arn
  }

  network_interfaces {
    associate_public_ip_address = false # private subnets, out through NAT
    security_groups             = each.value.security_group_ids
    delete_on_termination       = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = data.aws_ami.debian.root_device_name

    ebs {
      volume_size           = each.value.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.name}-${each.key}", NodeGroup = each.key })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${local.name}-${each.key}", NodeGroup = each.key })
  }
}

resource "aws_autoscaling_group" "client" {
  for_each = local.client_groups

  name                      = "${local.name}-${each.key}"
  min_size                  = each.value.min_size
  max_size                  = each.value.max_size
  desired_capacity          = each.value.desired_capacity
  vpc_zone_identifier       = each.value.subnet_ids
  target_group_arns         = each.value.target_group_arns
  health_check_type         = each.value.health_check_type
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.client[each.key].id
    version = aws_launch_template.client[each.key].latest_version
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${local.name}-${each.key}", NodeGroup = each.key })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Origin nodes mount EFS at boot; private nodes install packages through NAT.
  depends_on = [aws_efs_mount_target.origin, aws_route.private_nat]
}
