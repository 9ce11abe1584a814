# The outputs bucket: where `ezlive origin -storage s3` keeps the live
# outputs, recordings and clips of every job, under outputs/<job id>/
# (jobspec.S3OutputPrefix; a job's own Output.S3_output.Bucket is the
# customer's, not this one). Uploads still go through the origin, which
# checks each job's upload token and placement generation; CloudFront reads
# the bucket's outputs/ path directly, through origin access control, and
# the live path (/live/, /play/) through the origin.

resource "aws_s3_bucket" "outputs" {
  bucket_prefix = "${local.name}-outputs-"
  tags          = { Name = "${local.name}-outputs" }
}

# Private: no ACLs, no public policy, whatever is asked later.
resource "aws_s3_bucket_public_access_block" "outputs" {
  bucket = aws_s3_bucket.outputs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "outputs" {
  bucket = aws_s3_bucket.outputs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "outputs" {
  bucket = aws_s3_bucket.outputs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Retention: the origin removes a deleted job's prefix itself; what it
# misses (an origin that lost its spool folder's marker, a job never
# deleted) expires here.
resource "aws_s3_bucket_lifecycle_configuration" "outputs" {
  bucket = aws_s3_bucket.outputs.id

  rule {
    id     = "outputs-retention"
    status = "Enabled"

    filter {
      prefix = "outputs/"
    }

    expiration {
      days = var.outputs_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Players on other sites read through CloudFront, which forwards their
# Origin header (Managed-CORS-S3Origin).
resource "aws_s3_bucket_cors_configuration" "outputs" {
  bucket = aws_s3_bucket.outputs.id

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = ["*"]
    allowed_headers = ["Range", "If-None-Match", "If-Modified-Since"]
    expose_headers  = ["Content-Length", "Content-Range", "ETag"]
    max_age_seconds = 86400
  }
}

# Who may do what: the origin's role reads, writes, lists and deletes
# outputs/ (the one writer); CloudFront's playback distribution reads it;
# nothing travels in clear.
data "aws_iam_policy_document" "outputs_bucket" {
  statement {
    sid     = "OriginKeepsOutputs"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.client["origin"].arn]
    }
    resources = ["${aws_s3_bucket.outputs.arn}/outputs/*"]
  }

  statement {
    sid     = "OriginListsOutputs"
    actions = ["s3:ListBucket"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.client["origin"].arn]
    }
    resources = [aws_s3_bucket.outputs.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["outputs/*"]
    }
  }

  statement {
    sid     = "CloudFrontReadsOutputs"
    actions = ["s3:GetObject"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.outputs.arn}/outputs/*"]
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.playback.arn]
    }
  }

  statement {
    sid     = "HTTPSOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.outputs.arn, "${aws_s3_bucket.outputs.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "outputs" {
  bucket = aws_s3_bucket.outputs.id
  policy = data.aws_iam_policy_document.outputs_bucket.json

  # A policy naming a principal is refused while the block is being set.
  depends_on = [aws_s3_bucket_public_access_block.outputs]
}

# CloudFront signs its requests to the bucket (SigV4): the bucket stays private.
resource "aws_cloudfront_origin_access_control" "outputs" {
  name                              = "${local.name}-outputs"
  description                       = "CloudFront reads the outputs bucket of ${local.name}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

data "aws_cloudfront_origin_request_policy" "cors_s3" {
  name = "Managed-CORS-S3Origin"
}
