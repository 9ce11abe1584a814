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

  # HTTPS only, TLS 1.2+, to origin_domain_name: CloudFront checks the
  # origin load balancer's certificate against this name, which is why it
  # is ours and not the load balancer's amazonaws.com name.
  origin {
    origin_id   = "ezlive-origin"
    domain_name = var.origin_domain_name

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }

  # The outputs bucket (storage.tf), read with origin access control.
  origin {
    origin_id                = "ezlive-outputs"
    domain_name              = aws_s3_bucket.outputs.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.outputs.id
  }

  # Outputs the origin kept in the bucket (-storage s3): recordings, clips
  # and finished streams under outputs/<job id>/, straight from S3. The
  # live edge stays on the origin (/live/, /play/): parts still arriving,
  # blocking playlist reloads and viewer tokens are its own.
  ordered_cache_behavior {
    path_pattern             = "/outputs/*"
    target_origin_id         = "ezlive-outputs"
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS"]
    cached_methods           = ["GET", "HEAD"]
    cache_policy_id          = data.aws_cloudfront_cache_policy.caching_optimized.id
    origin_request_policy_id = data.aws_cloudfront_origin_request_policy.cors_s3.id
    compress                 = true
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

  # CloudFront connects to the name only once it resolves to the origin
  # load balancer and the certificate is issued.
  depends_on = [aws_route53_record.origin]
}

# --- the origin's certificate and DNS name -----------------------------------------------
#
# With origin_dns_zone_id, Terraform issues an ACM certificate for
# origin_domain_name (DNS validation in that zone) and points the name at
# the origin load balancer; otherwise origin_certificate_arn is the
# operator's certificate and the DNS record is theirs to make (README.md).

resource "aws_acm_certificate" "origin" {
  count = var.origin_dns_zone_id == null ? 0 : 1

  domain_name       = var.origin_domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }

  tags = { Name = "${local.name}-origin" }
}

# One name, so one validation record (no SANs).
resource "aws_route53_record" "origin_validation" {
  count = length(aws_acm_certificate.origin)

  zone_id         = var.origin_dns_zone_id
  name            = tolist(aws_acm_certificate.origin[count.index].domain_validation_options)[0].resource_record_name
  type            = tolist(aws_acm_certificate.origin[count.index].domain_validation_options)[0].resource_record_type
  records         = [tolist(aws_acm_certificate.origin[count.index].domain_validation_options)[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "origin" {
  count = length(aws_acm_certificate.origin)

  certificate_arn         = aws_acm_certificate.origin[count.index].arn
  validation_record_fqdns = [aws_route53_record.origin_validation[count.index].fqdn]
}

resource "aws_route53_record" "origin" {
  count = length(aws_acm_certificate.origin)

  zone_id = var.origin_dns_zone_id
  name    = var.origin_domain_name
  type    = "A"

  alias {
    name                   = aws_lb.origin.dns_name
    zone_id                = aws_lb.origin.zone_id
    evaluate_target_health = false
  }
}

locals {
  # The origin listener waits for validation when Terraform issues the certificate.
  origin_certificate_arn = var.origin_dns_zone_id == null ? var.origin_certificate_arn : aws_acm_certificate_validation.origin[0].certificate_arn
}
