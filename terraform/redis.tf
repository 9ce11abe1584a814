# Redis: jobs, queued_jobs, worker_loads, heartbeats and stream keys. One
# primary with replicas across zones, automatic failover, daily snapshots,
# TLS in transit, encryption at rest and an AUTH token.

resource "aws_elasticache_subnet_group" "redis" {
  name        = "${local.name}-redis"
  description = "Private subnets of ${local.name}"
  subnet_ids  = aws_subnet.private[*].id
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = "${local.name}-redis"
  description          = "ezLiveStreaming state (${local.name})"

  # No parameter_group_name: the engine's default group (cluster mode off).
  engine             = "redis"
  engine_version     = var.redis_engine_version
  node_type          = var.redis_node_type
  port               = 6379
  num_cache_clusters = var.redis_replica_count + 1

  subnet_group_name  = aws_elasticache_subnet_group.redis.name
  security_group_ids = [aws_security_group.redis.id]

  automatic_failover_enabled = true
  multi_az_enabled           = true

  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  auth_token                 = var.redis_auth_token
  auth_token_update_strategy = "ROTATE"

  # Persistence: ElastiCache has no AOF on Redis 7, so durability is the
  # replica in another zone plus daily RDB snapshots kept for N days, and a
  # final snapshot when the group is destroyed.
  snapshot_retention_limit  = var.redis_snapshot_retention_days
  snapshot_window           = "03:00-04:00"
  maintenance_window        = "sun:05:00-sun:06:00"
  final_snapshot_identifier = "${local.name}-redis-final"

  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = { Name = "${local.name}-redis" }
}
