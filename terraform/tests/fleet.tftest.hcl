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
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
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
}

variables {
  region                = "us-east-1"
  ezlive_release_url    = "https://example.invalid/ezlive-linux-amd64"
  ezlive_release_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  redis_auth_token      = "mockredistoken0123456789abcdef"
  nomad_gossip_key      = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
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
    condition     = strcontains(base64decode(aws_launch_template.client["worker"].user_data), "awscli ffmpeg") && !strcontains(base64decode(aws_launch_template.client["api"].user_data), "awscli ffmpeg")
    error_message = "ffmpeg is installed on workers only"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.client["scheduler"].user_data), "node_class = \"scheduler\"")
    error_message = "each node group gets its own node class"
  }
  assert {
    condition = alltrue([for lt in concat(values(aws_launch_template.client), [aws_launch_template.nomad_server]) :
    !strcontains(base64decode(lt.user_data), var.redis_auth_token) && !strcontains(base64decode(lt.user_data), var.nomad_gossip_key)])
    error_message = "secrets never appear in user data"
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
