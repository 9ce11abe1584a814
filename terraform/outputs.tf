output "api_url" {
  description = "Base URL of the REST API (POST /jobs ...)."
  value       = "${var.api_certificate_arn == null ? "http" : "https"}://${aws_lb.api.dns_name}"
}

output "ingest_host" {
  description = "Host publishers send to: rtmp://<ingest_host>/live/<stream key> (point your own DNS name at it)."
  value       = aws_lb.ingest.dns_name
}

output "rtmp_ingest_url_prefix" {
  description = "Prefix of every job's stable RTMP ingest URL; append the stream key."
  value       = "rtmp://${aws_lb.ingest.dns_name}${var.rtmp_port == 1935 ? "" : ":${var.rtmp_port}"}/live/"
}

output "playback_base_url" {
  description = "CloudFront URL players fetch manifests and segments from."
  value       = "https://${aws_cloudfront_distribution.playback.domain_name}"
}

output "origin_write_url" {
  description = "Internal URL transcoders PUT segments and manifests to."
  value       = local.ezlive_environment.origin_write_url
}

output "nomad_addr" {
  description = "NOMAD_ADDR of the cluster: the servers' HTTPS API through the internal NLB, from admin_cidrs (with NOMAD_CACERT and NOMAD_TLS_SERVER_NAME=server.global.nomad); otherwise port-forward to a server through SSM."
  value       = local.ezlive_environment.nomad_addr
}

output "nomad_management_token_secret" {
  description = "Secrets Manager secret holding the Nomad ACL management token the servers bootstrapped with (aws secretsmanager get-secret-value --secret-id ...)."
  value       = aws_secretsmanager_secret.nomad_management_token.arn
}

output "origin_load_balancer_dns_name" {
  description = "DNS name of the origin load balancer: point origin_domain_name at it (CNAME) when you brought your own certificate (origin_certificate_arn); with origin_dns_zone_id Terraform did."
  value       = aws_lb.origin.dns_name
}

output "queue_url" {
  description = "URL of the SQS command queue."
  value       = aws_sqs_queue.commands.url
}

output "dead_letter_queue_url" {
  description = "URL of the command queue's dead-letter queue."
  value       = aws_sqs_queue.commands_dlq.url
}

output "redis_endpoint" {
  description = "Primary endpoint of the Redis replication group (TLS, AUTH), host:port."
  value       = local.ezlive_environment.redis_address
}

output "redis_auth_token_parameter" {
  description = "SSM parameter holding the Redis AUTH token (SecureString)."
  value       = aws_ssm_parameter.redis_auth_token.name
}

output "worker_capacity" {
  description = "Sizing estimate from the benchmark figures (about 6 sample-ladder channels per 2 vCPU at veryfast), with 20% headroom."
  value = {
    instance_type         = var.worker_instance_type
    vcpus_per_instance    = data.aws_ec2_instance_type.worker.default_vcpus
    channels_per_instance = local.worker_channels_per_instance
    channels_desired      = local.worker_channels_per_instance * var.worker_desired_capacity
    channels_max          = local.worker_channels_per_instance * var.worker_max_size
  }
}

output "node_pools" {
  description = "Nomad node pool of each client node group (what the job files in nomad/ must target)."
  value       = { for k, g in local.client_groups : k => g.node_pool }
}

output "outputs_bucket" {
  description = "Bucket of the origin's outputs with origin_storage = \"s3\" (objects outputs/<job id>/...), served by CloudFront under /outputs/."
  value       = aws_s3_bucket.outputs.bucket
}
