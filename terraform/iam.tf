# IAM: one role per node group, each with only what its processes need.
# Nomad jobs inherit the instance role of the node they run on, which is why
# api, scheduler, origin and workers are separate node groups (node pools):
# the API may only send to the command queue, the scheduler may only receive,
# extend and delete, and nothing else touches SQS.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    sid     = "EC2AssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# --- Nomad servers ---------------------------------------------------------------

resource "aws_iam_role" "nomad_server" {
  name               = "${local.name}-nomad-server"
  description        = "Nomad servers of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

data "aws_iam_policy_document" "nomad_server" {
  statement {
    sid = "CloudAutoJoin"
    # DescribeInstances has no resource-level permissions: "*" is the only form.
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid     = "GossipKeyAndTLS"
    actions = ["ssm:GetParameter"]
    resources = [
      aws_ssm_parameter.nomad_gossip_key.arn,
      aws_ssm_parameter.nomad_tls["ca"].arn,
      aws_ssm_parameter.nomad_tls["server-cert"].arn,
      aws_ssm_parameter.nomad_tls["server-key"].arn,
    ]
  }

  # The ACL bootstrap (templates/nomad-server.sh.tftpl) uses the management token.
  statement {
    sid       = "ManagementToken"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.nomad_management_token.arn]
  }
}

resource "aws_iam_role_policy" "nomad_server" {
  name   = "nomad-server"
  role   = aws_iam_role.nomad_server.id
  policy = data.aws_iam_policy_document.nomad_server.json
}

resource "aws_iam_instance_profile" "nomad_server" {
  name = "${local.name}-nomad-server"
  role = aws_iam_role.nomad_server.name
}

# --- Nomad clients (workers, api, scheduler, origin) ------------------------------------

resource "aws_iam_role" "client" {
  for_each = local.client_groups

  name               = "${local.name}-${each.key}"
  description        = "Nomad clients of the ${each.key} node group of ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# What every client needs: find the servers, read the Redis token and the
# clients' Nomad TLS certificate and key.
data "aws_iam_policy_document" "client_base" {
  statement {
    sid       = "CloudAutoJoin"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid     = "RedisAuthTokenAndTLS"
    actions = ["ssm:GetParameter"]
    resources = [
      aws_ssm_parameter.redis_auth_token.arn,
      aws_ssm_parameter.nomad_tls["ca"].arn,
      aws_ssm_parameter.nomad_tls["client-cert"].arn,
      aws_ssm_parameter.nomad_tls["client-key"].arn,
    ]
  }
}

resource "aws_iam_role_policy" "client_base" {
  for_each = local.client_groups

  name   = "nomad-client"
  role   = aws_iam_role.client[each.key].id
  policy = data.aws_iam_policy_document.client_base.json
}

# The DRM key-encryption key: only the groups whose processes wrap and
# unwrap content keys (local.drm_kek_groups: api, origin) read it.
data "aws_iam_policy_document" "drm_kek" {
  statement {
    sid       = "DRMKeyEncryptionKey"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.drm_kek.arn]
  }
}

resource "aws_iam_role_policy" "drm_kek" {
  for_each = local.drm_kek_groups

  name   = "drm-kek"
  role   = aws_iam_role.client[each.key].id
  policy = data.aws_iam_policy_document.drm_kek.json
}

# The API only enqueues commands.
data "aws_iam_policy_document" "api_queue" {
  statement {
    sid = "SendCommands"
    actions = [
      "sqs:SendMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.commands.arn]
  }
}

resource "aws_iam_role_policy" "api_queue" {
  name   = "command-queue-send"
  role   = aws_iam_role.client["api"].id
  policy = data.aws_iam_policy_document.api_queue.json
}

# The scheduler consumes commands: receive, keep invisible while handling, delete when done.
data "aws_iam_policy_document" "scheduler_queue" {
  statement {
    sid = "ConsumeCommands"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.commands.arn]
  }
}

resource "aws_iam_role_policy" "scheduler_queue" {
  name   = "command-queue-consume"
  role   = aws_iam_role.client["scheduler"].id
  policy = data.aws_iam_policy_document.scheduler_queue.json
}

resource "aws_iam_instance_profile" "client" {
  for_each = local.client_groups

  name = "${local.name}-${each.key}"
  role = aws_iam_role.client[each.key].name
}

# --- optional: shell and port forwarding through SSM Session Manager ------------------------

locals {
  ssm_roles = var.enable_ssm_session_manager ? merge(
    { nomad_server = aws_iam_role.nomad_server.name },
    { for k, r in aws_iam_role.client : k => r.name },
  ) : {}
}

# Session Manager's channels only. Not AmazonSSMManagedInstanceCore: it
# also allows ssm:GetParameter on "*", which would let every role read every
# secret parameter (the DRM key-encryption key included).
data "aws_iam_policy_document" "session_manager" {
  statement {
    sid = "SessionManager"
    # These actions have no resource-level permissions: "*" is the only form.
    actions = [
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  for_each = local.ssm_roles

  name   = "session-manager"
  role   = each.value
  policy = data.aws_iam_policy_document.session_manager.json
}
