terraform {
  # 1.9 for validation blocks that compare one variable with another
  # (worker_desired_capacity between min and max).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
  }
}

# Tagging rule (checked by terraform_test.go): every AWS resource gets the
# required tags (Project, Environment, ManagedBy) from this provider's
# default_tags. The provider does not carry default_tags into what an
# Auto Scaling group launches, so each aws_autoscaling_group also has a
# `tag` block per entry of local.tags (propagate_at_launch = true) and each
# aws_launch_template tags its instances and volumes through
# tag_specifications.
provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
