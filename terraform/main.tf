# Shared names, tags and lookups of the ezLiveStreaming fleet.

locals {
  name = "${var.project}-${var.environment}"

  # The tags every resource must carry (see the rule in versions.tf).
  required_tags = {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  }
  tags = merge(var.extra_tags, local.required_tags)

  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # Cloud auto-join: servers carry this tag, and every agent's retry_join
  # looks for it (provider=aws tag_key=... tag_value=...).
  nomad_join_tag_key   = "NomadCluster"
  nomad_join_tag_value = local.name

  # Where the Nomad configuration of nomad/ lives; user data embeds it.
  nomad_dir = "${path.module}/../nomad"

  # Benchmark figures: about 6 sample-ladder channels per 2 vCPU at veryfast.
  # 0.8 keeps a fifth of each worker for the ingest gateway, Nomad and spikes.
  worker_channels_per_instance = floor(data.aws_ec2_instance_type.worker.default_vcpus * var.channels_per_vcpu * 0.8)
}

data "aws_availability_zones" "available" {
  state = "available"
}

# Debian 12, the distribution ezlive is developed and tested on (ffmpeg 5.1 from apt).
data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"] # Debian's official AWS account

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

data "aws_ec2_instance_type" "worker" {
  instance_type = var.worker_instance_type
}
