# Secrets the instances fetch at boot from SSM Parameter Store (SecureString,
# AWS-managed key), so they never appear in launch template user data. Their
# values come from sensitive variables (generate them once, keep them in your
# secret store; see README.md), which also keeps this configuration on the
# AWS provider alone.

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
