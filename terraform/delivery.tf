# Origin storage and delivery.
#
# `ezlive origin` is an HTTP server: transcoders PUT/DELETE segments and
# manifests with the job's upload token and placement generation (fencing),
# players GET them. S3 cannot check our tokens or generations, so the origin
# stays our own server: an origin node group behind load balancers, with
# CloudFront in front for players. The node group shares one EFS file system
# so any origin instance can serve what another one received.

resource "aws_efs_file_system" "origin" {
  creation_token   = "${local.name}-origin"
  encrypted        = true
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  # Live segments are short-lived; nothing moves to infrequent access.
  tags = { Name = "${local.name}-origin" }
}

resource "aws_efs_mount_target" "origin" {
  count = var.az_count

  file_system_id  = aws_efs_file_system.origin.id
  subnet_id       = aws_subnet.private[count.index].id
  security_groups = [aws_security_group.efs.id]
}

# Honours the origin's Cache-Control: short for manifests, long for segments.
data "aws_cloudfront_cache_policy" "caching_optimized" {
  name = "Managed-CachingOptimized"
}

resource "aws_cloudfront_distribution" "playback" {
  enabled         = true
  is_ipv6_enabled = true
  comment         = "ezLiveStreaming playback (${local.name})"
  price_class     = var.cloudfront_price_class

  origin {
    origin_id   = "ezlive-origin"
    domain_name = aws_lb.origin.dns_name

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "http-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  default_cache_behavior {
    target_origin_id       = "ezlive-origin"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = data.aws_cloudfront_cache_policy.caching_optimized.id
    compress               = true
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }

  tags = { Name = "${local.name}-playback" }
}
