# `terraform test` with a mocked AWS provider: plans and "applies" the whole
# fleet without an AWS account, checking the provider's real schema, every
# for_each and template, and the validations. Needs the hashicorp/aws
# provider installed (terraform init); lint.sh runs it when a provider
# mirror is present and skips it otherwise.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { default_vcpus = 4 }
  }
  mock_data "aws_ami" {
    defaults = { id = "ami-0123456789abcdef0", root_device_name = "/dev/xvda" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }

  # The provider checks ARN and id formats; random mock strings fail them.
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::123456789012:instance-profile/mock" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mock/1", dns_name = "mock-lb.elb.amazonaws.com" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mock/1" }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/mock/1/2" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:mock", url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:us-east-1:123456789012:parameter/mock" }
  }
  mock_resource "aws_efs_file_system" {
    defaults = { arn = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-0123456789abcdef0", dns_name = "fs-0123456789abcdef0.efs.us-east-1.amazonaws.com" }
  }
  mock_resource "aws_elasticache_replication_group" {
    defaults = { primary_endpoint_address = "master.mock.cache.amazonaws.com" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock-AbCdEf", id = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock-AbCdEf" }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/mock"
      domain_validation_options = [{
        domain_name           = "origin.live.example.com"
        resource_record_name  = "_abc.origin.live.example.com."
        resource_record_type  = "CNAME"
        resource_record_value = "_def.acm-validations.aws."
      }]
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = { certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/mock" }
  }
}

variables {
  region                 = "us-east-1"
  ezlive_release_url     = "https://example.invalid/ezlive-linux-amd64"
  ezlive_release_sha256  = "0000000000000000000000000000000000000000000000000000000000000000"
  redis_auth_token       = "mockredistoken0123456789abcdef"
  nomad_gossip_key       = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
  drm_kek                = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
  origin_domain_name     = "origin.live.example.com"
  origin_dns_zone_id     = "Z0123456789ABCDEFGHIJ"
  nomad_tls_ca_cert      = "-----BEGIN CERTIFICATE-----\nMOCKCA\n-----END CERTIFICATE-----\n"
  nomad_tls_server_cert  = "-----BEGIN CERTIFICATE-----\nMOCKSERVER\n-----END CERTIFICATE-----\n"
  nomad_tls_server_key   = "-----BEGIN EC PRIVATE KEY-----\nMOCKSERVERKEY\n-----END EC PRIVATE KEY-----\n"
  nomad_tls_client_cert  = "-----BEGIN CERTIFICATE-----\nMOCKCLIENT\n-----END CERTIFICATE-----\n"
  nomad_tls_client_key   = "-----BEGIN EC PRIVATE KEY-----\nMOCKCLIENTKEY\n-----END EC PRIVATE KEY-----\n"
  nomad_management_token = "0b5d3a52-7c1e-4f7a-9a43-5f2f0c1d2e3f"
}

run "fleet" {
  command = apply

  assert {
    condition     = aws_autoscaling_group.nomad_server.min_size == 3 && aws_autoscaling_group.nomad_server.max_size == 3
    error_message = "three Nomad servers"
  }
  assert {
    condition     = toset(keys(aws_autoscaling_group.client)) == toset(["worker", "api", "scheduler", "origin"])
    error_message = "one client node group per IAM identity"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.commands.redrive_policy).deadLetterTargetArn == aws_sqs_queue.commands_dlq.arn && jsondecode(aws_sqs_queue.commands.redrive_policy).maxReceiveCount == 5
    error_message = "command queue redrives to its DLQ after 5 deliveries"
  }
  assert {
    condition     = aws_sqs_queue.commands.visibility_timeout_seconds == 60
    error_message = "visibility timeout follows the variable"
  }
  assert {
    condition = (aws_elasticache_replication_group.redis.automatic_failover_enabled && aws_elasticache_replication_group.redis.multi_az_enabled
      && aws_elasticache_replication_group.redis.transit_encryption_enabled && aws_elasticache_replication_group.redis.at_rest_encryption_enabled
    && aws_elasticache_replication_group.redis.num_cache_clusters == 2 && aws_elasticache_replication_group.redis.snapshot_retention_limit == 7)
    error_message = "Redis: failover across zones, encrypted, snapshots kept"
  }
  assert {
    condition     = output.worker_capacity.channels_per_instance == 9
    error_message = "4 vCPU x 3 channels x 0.8 headroom = 9 channels per worker"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.client["worker"].user_data), "awscli ffmpeg") && !strcontains(base64decode(aws_launch_template.client["api"].user_data), "awscli ffmpeg") && strcontains(base64decode(aws_launch_template.client["origin"].user_data), "awscli ffmpeg")
    error_message = "ffmpeg is installed on workers and origins (storyboards) only"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.client["scheduler"].user_data), "node_class = \"scheduler\"")
    error_message = "each node group gets its own node class"
  }
  assert {
    condition = alltrue([for lt in concat(values(aws_launch_template.client), [aws_launch_template.nomad_server]) :
      alltrue([for secret in [var.redis_auth_token, var.nomad_gossip_key, var.drm_kek, var.nomad_tls_server_key, var.nomad_tls_client_key, var.nomad_management_token, "MOCKSERVERKEY", "MOCKCLIENTKEY"] :
    !strcontains(base64decode(lt.user_data), secret)])])
    error_message = "secrets never appear in user data"
  }
  assert {
    condition = (alltrue([for g in values(aws_autoscaling_group.client) : toset(g.vpc_zone_identifier) == toset(aws_subnet.private[*].id)])
      && toset(aws_autoscaling_group.nomad_server.vpc_zone_identifier) == toset(aws_subnet.private[*].id)
      && alltrue([for lt in values(aws_launch_template.client) : !lt.network_interfaces[0].associate_public_ip_address])
    && alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch]))
    error_message = "every instance, workers included, in private subnets without a public address"
  }
  assert {
    condition = (one([for o in aws_cloudfront_distribution.playback.origin : o if o.origin_id == "ezlive-origin"]).custom_origin_config[0].origin_protocol_policy == "https-only"
      && one([for o in aws_cloudfront_distribution.playback.origin : o if o.origin_id == "ezlive-origin"]).domain_name == "origin.live.example.com"
      && aws_lb_listener.origin_read.protocol == "HTTPS" && aws_lb_listener.origin_read.port == 443
    && aws_lb_listener.origin_read.certificate_arn == aws_acm_certificate_validation.origin[0].certificate_arn)
    error_message = "CloudFront reaches the origin over HTTPS only, by a name its certificate matches"
  }
  assert {
    condition = (aws_s3_bucket_public_access_block.outputs.block_public_acls && aws_s3_bucket_public_access_block.outputs.block_public_policy
      && aws_s3_bucket_public_access_block.outputs.ignore_public_acls && aws_s3_bucket_public_access_block.outputs.restrict_public_buckets
      && one([for o in aws_cloudfront_distribution.playback.origin : o if o.origin_id == "ezlive-outputs"]).origin_access_control_id == aws_cloudfront_origin_access_control.outputs.id
    && one(aws_cloudfront_distribution.playback.ordered_cache_behavior).path_pattern == "/outputs/*")
    error_message = "the outputs bucket is private and CloudFront reads its outputs/ path with origin access control"
  }
  assert {
    condition = (aws_route53_record.origin[0].name == "origin.live.example.com"
    && aws_route53_record.origin[0].alias[0].name == aws_lb.origin.dns_name)
    error_message = "with a Route 53 zone, the origin's name points at its load balancer"
  }
  assert {
    condition = (strcontains(base64decode(aws_launch_template.nomad_server.user_data), "nomad acl bootstrap \"$token_file\"")
      && strcontains(base64decode(aws_launch_template.nomad_server.user_data), "--secret-id \"${aws_secretsmanager_secret.nomad_management_token.arn}\"")
    && strcontains(base64decode(aws_launch_template.nomad_server.user_data), "capabilities = [\"submit-job\", \"read-job\", \"list-jobs\"]"))
    error_message = "servers bootstrap ACLs with the token in Secrets Manager and apply the scheduler's policy"
  }
  assert {
    condition = alltrue([for lt in concat(values(aws_launch_template.client), [aws_launch_template.nomad_server]) :
      strcontains(base64decode(lt.user_data), "verify_server_hostname = true")
    && strcontains(base64decode(lt.user_data), "/etc/nomad.d/tls/agent-key.pem")])
    error_message = "every agent gets its TLS files and a tls block"
  }
  assert {
    condition = (alltrue([for g in ["api", "origin"] :
      strcontains(base64decode(aws_launch_template.client[g].user_data), "--name \"${aws_ssm_parameter.drm_kek.name}\"")
      && strcontains(base64decode(aws_launch_template.client[g].user_data), "EZLIVE_DRM_KEK=$DRM_KEK")])
      && alltrue([for g in ["worker", "scheduler"] : !strcontains(base64decode(aws_launch_template.client[g].user_data), "DRM_KEK")])
    && toset(keys(aws_iam_role_policy.drm_kek)) == toset(["api", "origin"]))
    error_message = "the api and origin nodes, and only they, read the DRM KEK from SSM at boot into EZLIVE_DRM_KEK"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.client["scheduler"].user_data), "NOMAD_CACERT=/etc/nomad.d/tls/ca.pem")
    error_message = "client nodes give Nomad's API client the CA (NOMAD_CACERT)"
  }
  assert {
    condition     = output.nomad_addr == "https://mock-lb.elb.amazonaws.com:4646" && aws_lb_target_group.nomad.protocol == "TCP"
    error_message = "the Nomad API is HTTPS end to end through a TCP passthrough"
  }
  assert {
    condition     = output.api_url == "http://mock-lb.elb.amazonaws.com"
    error_message = "plain HTTP API without a certificate"
  }
  assert {
    condition = alltrue([for lt in values(aws_launch_template.client) :
      strcontains(base64decode(lt.user_data), "EnvironmentFile=/etc/ezlive/ezlive.env")
    && strcontains(base64decode(lt.user_data), "EZLIVE_API_DRAIN=15s")])
    error_message = "every client's Nomad agent loads the node settings (transcoders inherit them), with a 15s drain"
  }
  assert {
    condition = (aws_lb_target_group.ingest.health_check[0].protocol == "HTTP" && aws_lb_target_group.ingest.health_check[0].port == "1936"
    && aws_lb_target_group.ingest.health_check[0].path == "/readyz" && aws_lb_target_group.api.health_check[0].path == "/readyz")
    error_message = "load balancers check /readyz; the ingest NLB on the gateway's health port, not on RTMP"
  }
}

run "https_two_zones_one_nat" {
  command = plan

  variables {
    api_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/mock"
    single_nat_gateway  = true
    az_count            = 2
    admin_cidrs         = ["10.0.0.0/8"]
  }

  assert {
    condition     = length(aws_nat_gateway.main) == 1 && length(aws_subnet.private) == 2
    error_message = "one NAT gateway, two zones"
  }
  assert {
    condition     = length(aws_lb_listener.api_https) == 1 && length(aws_lb_listener.api_http) == 0
    error_message = "HTTPS listener when a certificate is given"
  }
}

run "origin_with_own_certificate" {
  command = plan

  variables {
    origin_dns_zone_id     = null
    origin_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/own"
  }

  assert {
    condition     = length(aws_acm_certificate.origin) == 0 && length(aws_route53_record.origin) == 0
    error_message = "no certificate or DNS record of ours when the operator brings a certificate"
  }
  assert {
    condition     = aws_lb_listener.origin_read.certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/own"
    error_message = "the origin listener uses the operator's certificate"
  }
}

run "origin_needs_a_certificate" {
  command = plan
  variables {
    origin_dns_zone_id = null
  }
  expect_failures = [var.origin_certificate_arn]
}

run "origin_zone_and_certificate_both" {
  command = plan
  variables {
    origin_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/own"
  }
  expect_failures = [var.origin_certificate_arn]
}

run "tls_key_not_a_key" {
  command = plan
  variables {
    nomad_tls_client_key = "-----BEGIN CERTIFICATE-----\nnot a key\n-----END CERTIFICATE-----\n"
  }
  expect_failures = [var.nomad_tls_client_key]
}

run "management_token_not_a_uuid" {
  command = plan
  variables {
    nomad_management_token = "root"
  }
  expect_failures = [var.nomad_management_token]
}

run "desired_outside_min_max" {
  command = plan
  variables {
    worker_desired_capacity = 50
  }
  expect_failures = [var.worker_desired_capacity]
}

run "short_redis_token" {
  command = plan
  variables {
    redis_auth_token = "short"
  }
  expect_failures = [var.redis_auth_token]
}

run "bad_gossip_key" {
  command = plan
  variables {
    nomad_gossip_key = "not-a-key"
  }
  expect_failures = [var.nomad_gossip_key]
}

run "drm_kek_not_32_bytes" {
  command = plan
  variables {
    drm_kek = "c2hvcnQ="
  }
  expect_failures = [var.drm_kek]
}

run "extra_tags_cannot_override_required" {
  command = plan
  variables {
    extra_tags = { Project = "other" }
  }
  expect_failures = [var.extra_tags]
}

run "nomad_api_never_public" {
  command = plan
  variables {
    admin_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.admin_cidrs]
}
