# Secrets the instances fetch at boot with their instance role, so they never
# appear in launch template user data: SSM Parameter Store (SecureString,
# AWS-managed key) for what the agents need, Secrets Manager for the Nomad
# management token operators use. Their values come from sensitive variables
# (generate them once, keep them in your secret store; see README.md), which
# also keeps this configuration on the AWS provider alone.

resource "aws_ssm_parameter" "redis_auth_token" {
  name        = "/${var.project}/${var.environment}/redis/auth-token"
  description = "Redis AUTH token of ${local.name}"
  type        = "SecureString"
  value       = var.redis_auth_token
}

resource "aws_ssm_parameter" "nomad_gossip_key" {
  name        = "/${var.project}/${var.environment}/nomad/gossip-key"
  description = "Nomad server gossip encryption key of ${local.name}"
  type        = "SecureString"
  value       = var.nomad_gossip_key
}

# The key-encryption key of the DRM content keys in Redis: only the api and
# origin nodes read it (iam.tf, local.drm_kek_groups in compute.tf).
resource "aws_ssm_parameter" "drm_kek" {
  name        = "/${var.project}/${var.environment}/drm/kek"
  description = "Key-encryption key of the DRM content keys (EZLIVE_DRM_KEK) of ${local.name}"
  type        = "SecureString"
  value       = var.drm_kek
}

# Nomad mutual TLS: the CA certificate for every agent, one certificate and
# key per role. Each role's IAM policy (iam.tf) reads only its own.
locals {
  nomad_tls = {
    ca          = var.nomad_tls_ca_cert
    server-cert = var.nomad_tls_server_cert
    server-key  = var.nomad_tls_server_key
    client-cert = var.nomad_tls_client_cert
    client-key  = var.nomad_tls_client_key
  }
}

resource "aws_ssm_parameter" "nomad_tls" {
  # The names only: for_each may not carry the sensitive values themselves.
  for_each = toset(["ca", "server-cert", "server-key", "client-cert", "client-key"])

  name        = "/${var.project}/${var.environment}/nomad/tls/${each.key}"
  description = "Nomad TLS ${each.key} of ${local.name}"
  type        = "SecureString"
  value       = local.nomad_tls[each.key]
}

# The ACL management token: the servers bootstrap Nomad's ACL system with it
# (templates/nomad-server.sh.tftpl); operators read it from here.
resource "aws_secretsmanager_secret" "nomad_management_token" {
  name                    = "${var.project}/${var.environment}/nomad/management-token"
  description             = "Nomad ACL management token (bootstrap token) of ${local.name}"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "nomad_management_token" {
  secret_id     = aws_secretsmanager_secret.nomad_management_token.id
  secret_string = var.nomad_management_token
}
