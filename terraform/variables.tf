# Inputs of the ezLiveStreaming AWS fleet. Every variable has a type, a
# description and, unless it is a plain switch, a validation block
# (terraform_test.go checks this).

# --- identity and tags -------------------------------------------------------

variable "region" {
  type        = string
  description = "AWS region to deploy into, e.g. us-east-1."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1 or eu-west-2."
  }
}

variable "project" {
  type        = string
  description = "Project name: the Project tag and the first part of every resource name."
  default     = "ezlive"

  validation {
    # Short, because load balancer and target group names are capped at 32 characters.
    # ElastiCache ids refuse "--" and a trailing "-".
    condition     = can(regex("^[a-z](-?[a-z0-9])+$", var.project)) && length(var.project) <= 12
    error_message = "project must be 2-12 lowercase letters, digits and single '-', starting with a letter and not ending with '-'."
  }
}

variable "environment" {
  type        = string
  description = "Environment name (prod, staging, dev...): the Environment tag and part of every resource name."
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits, starting with a letter."
  }
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional tags for every resource. The required tags (Project, Environment, ManagedBy) cannot be overridden here."
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.extra_tags), ["Project", "Environment", "ManagedBy"])) == 0
    error_message = "extra_tags must not set Project, Environment or ManagedBy: they come from var.project, var.environment and Terraform."
  }
}

# --- network -------------------------------------------------------------------

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the VPC. Subnets are carved as /20s when this is a /16 (4 bits more)."
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR block of /20 or larger, e.g. 10.20.0.0/16."
  }
}

variable "az_count" {
  type        = number
  description = "How many availability zones to spread subnets, Nomad servers, workers and Redis over."
  default     = 3

  validation {
    # Two at least: Redis Multi-AZ failover and the load balancers need two zones.
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be a whole number from 2 to 4."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all private subnets (cheaper) instead of one per availability zone (survives a zone failure)."
  default     = false
}

variable "publisher_cidrs" {
  type        = list(string)
  description = "CIDR blocks that may publish live feeds: RTMP on the ingest NLB (the only way to the workers' ingest gateway)."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.publisher_cidrs) > 0 && alltrue([for c in var.publisher_cidrs : can(cidrnetmask(c))])
    error_message = "publisher_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks that may call the REST API through its load balancer."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrnetmask(c))])
    error_message = "api_allowed_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "admin_cidrs" {
  type        = list(string)
  description = "CIDR blocks (VPN, bastion) that may reach the Nomad API/UI on the internal load balancer. Empty: only through SSM port forwarding."
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "admin_cidrs must be IPv4 CIDR blocks, and not 0.0.0.0/0: the Nomad API is never public."
  }
}

# --- ports of the ezlive processes -----------------------------------------------

variable "rtmp_port" {
  type        = number
  description = "RTMP port of the ingest gateway on every worker (rtmp://<ingest host>:<port>/live/<stream key>)."
  default     = 1935

  validation {
    condition     = var.rtmp_port >= 1 && var.rtmp_port <= 65535
    error_message = "rtmp_port must be a TCP port number."
  }
}

variable "ingest_port_range" {
  type = object({
    from = number
    to   = number
  })
  description = "Port range the transcoders listen on for ingest: Nomad's dynamic port range (min_dynamic_port..max_dynamic_port, 20000-32000 by default)."
  default = {
    from = 20000
    to   = 32000
  }

  validation {
    condition     = var.ingest_port_range.from >= 1024 && var.ingest_port_range.from <= var.ingest_port_range.to && var.ingest_port_range.to <= 65535
    error_message = "ingest_port_range must satisfy 1024 <= from <= to <= 65535."
  }
}

variable "ingest_health_port" {
  type        = number
  description = "Static host port of the ingest gateway's HTTP /readyz (`ezlive ingest -health-listen`), which the ingest NLB checks (nomad/ezlive-ingest.nomad.hcl must agree)."
  default     = 1936

  validation {
    condition     = var.ingest_health_port >= 1024 && var.ingest_health_port <= 65535 && var.ingest_health_port != var.rtmp_port && var.ingest_health_port != 4646 && var.ingest_health_port != 4647
    error_message = "ingest_health_port must be an unprivileged port (1024-65535) other than rtmp_port and Nomad's 4646/4647."
  }
}

variable "api_port" {
  type        = number
  description = "Static host port the `ezlive api` Nomad job listens on (nomad/ezlive-api.nomad.hcl must agree)."
  default     = 1080

  validation {
    condition     = var.api_port >= 1024 && var.api_port <= 65535 && var.api_port != 4646 && var.api_port != 4647
    error_message = "api_port must be an unprivileged port (1024-65535) other than Nomad's 4646/4647."
  }
}

variable "origin_port" {
  type        = number
  description = "Static host port the `ezlive origin` Nomad job listens on (nomad/ezlive-origin.nomad.hcl must agree)."
  default     = 1081

  validation {
    condition     = var.origin_port >= 1024 && var.origin_port <= 65535 && var.origin_port != 4646 && var.origin_port != 4647
    error_message = "origin_port must be an unprivileged port (1024-65535) other than Nomad's 4646/4647."
  }
}

variable "api_health_path" {
  type        = string
  description = "HTTP path the API load balancer checks on `ezlive api`: /readyz fails while Redis or the queue is down and while the API drains."
  default     = "/readyz"

  validation {
    condition     = startswith(var.api_health_path, "/")
    error_message = "api_health_path must start with '/'."
  }
}

variable "origin_health_path" {
  type        = string
  description = "HTTP path the origin load balancers check on `ezlive origin`: /readyz fails while Redis is down and while the origin drains."
  default     = "/readyz"

  validation {
    condition     = startswith(var.origin_health_path, "/")
    error_message = "origin_health_path must start with '/'."
  }
}

variable "api_certificate_arn" {
  type        = string
  description = "ACM certificate for HTTPS on the API load balancer. Null: plain HTTP on port 80 (only for trials)."
  default     = null

  validation {
    condition     = var.api_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.api_certificate_arn))
    error_message = "api_certificate_arn must be null or an ACM certificate ARN."
  }
}

# --- origin HTTPS (CloudFront -> origin load balancer) ------------------------------

variable "origin_domain_name" {
  type        = string
  description = "DNS name CloudFront fetches from the origin load balancer over HTTPS (e.g. origin.live.example.com): the origin's certificate must match it, and no certificate can match the load balancer's own amazonaws.com name."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.origin_domain_name))
    error_message = "origin_domain_name must be a lowercase DNS name such as origin.live.example.com."
  }
}

variable "origin_dns_zone_id" {
  type        = string
  description = "Route 53 public hosted zone holding origin_domain_name: Terraform then issues the origin's ACM certificate (DNS validation) and points the name at the origin load balancer. Null: give origin_certificate_arn and create the DNS record yourself."
  default     = null

  validation {
    condition     = var.origin_dns_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", var.origin_dns_zone_id))
    error_message = "origin_dns_zone_id must be null or a Route 53 hosted zone id (Z...)."
  }
}

variable "origin_certificate_arn" {
  type        = string
  description = "ACM certificate (in var.region) for origin_domain_name, when the name's DNS is not a Route 53 zone given in origin_dns_zone_id; point the name (CNAME) at the origin_load_balancer_dns_name output."
  default     = null

  validation {
    condition     = (var.origin_certificate_arn == null) != (var.origin_dns_zone_id == null)
    error_message = "Set exactly one of origin_dns_zone_id (Terraform issues the certificate) and origin_certificate_arn (your own): CloudFront reaches the origin over HTTPS only."
  }
  validation {
    condition     = var.origin_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.origin_certificate_arn))
    error_message = "origin_certificate_arn must be null or an ACM certificate ARN."
  }
}

# --- software on the instances --------------------------------------------------------

variable "nomad_version" {
  type        = string
  description = "Nomad version installed from HashiCorp's Debian repository on servers and clients."
  default     = "1.10.5"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.nomad_version))
    error_message = "nomad_version must be a full version such as 1.10.5."
  }
}

variable "ezlive_release_url" {
  type        = string
  description = "HTTPS URL of the linux/amd64 `ezlive` binary (`make build` output) the instances download at boot."

  validation {
    condition     = startswith(var.ezlive_release_url, "https://")
    error_message = "ezlive_release_url must be an https:// URL."
  }
}

variable "ezlive_release_sha256" {
  type        = string
  description = "SHA-256 of the binary at ezlive_release_url; boot fails if the download does not match."

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.ezlive_release_sha256))
    error_message = "ezlive_release_sha256 must be 64 lowercase hex digits (sha256sum output)."
  }
}

variable "enable_ssm_session_manager" {
  type        = bool
  description = "Let the SSM agent open Session Manager channels (a policy of its own, not AmazonSSMManagedInstanceCore, which reads every parameter) so operators reach instances (and port-forward to Nomad) without SSH or a bastion."
  default     = true
}

# --- Nomad servers -------------------------------------------------------------------

variable "nomad_server_count" {
  type        = number
  description = "Number of Nomad servers (the Raft quorum): 3 tolerates one failure, 5 tolerates two."
  default     = 3

  validation {
    condition     = contains([3, 5], var.nomad_server_count)
    error_message = "nomad_server_count must be 3 or 5."
  }
}

variable "nomad_server_instance_type" {
  type        = string
  description = "EC2 instance type of the Nomad servers (x86_64)."
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.nomad_server_instance_type))
    error_message = "nomad_server_instance_type must be an EC2 instance type such as t3.medium."
  }
}

# --- workers (transcoders) --------------------------------------------------------------

variable "worker_instance_type" {
  type        = string
  description = "EC2 instance type of the transcoding workers (x86_64). Capacity scales with vCPUs: see channels_per_vcpu and the README's sizing table."
  default     = "c7i.xlarge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.worker_instance_type))
    error_message = "worker_instance_type must be an EC2 instance type such as c7i.xlarge."
  }
}

variable "worker_min_size" {
  type        = number
  description = "Minimum number of worker instances."
  default     = 1

  validation {
    condition     = var.worker_min_size >= 0 && floor(var.worker_min_size) == var.worker_min_size
    error_message = "worker_min_size must be a whole number >= 0."
  }
}

variable "worker_max_size" {
  type        = number
  description = "Maximum number of worker instances."
  default     = 10

  validation {
    condition     = var.worker_max_size >= 1 && var.worker_max_size >= var.worker_min_size && floor(var.worker_max_size) == var.worker_max_size
    error_message = "worker_max_size must be a whole number >= 1 and >= worker_min_size."
  }
}

variable "worker_desired_capacity" {
  type        = number
  description = "Number of worker instances to run now. Size it from the channels you expect: desired = ceil(channels / (vCPUs x channels_per_vcpu x 0.8))."
  default     = 2

  validation {
    condition     = var.worker_desired_capacity >= var.worker_min_size && var.worker_desired_capacity <= var.worker_max_size
    error_message = "worker_desired_capacity must lie between worker_min_size and worker_max_size."
  }
}

variable "channels_per_vcpu" {
  type        = number
  description = "Live channels of the sample ladder (360p + 432p H.264 at preset veryfast, AAC) one vCPU carries. From our benchmark figures: about 6 channels per 2 vCPU, so 3. Lower it for heavier ladders; used only for the capacity output."
  default     = 3

  validation {
    condition     = var.channels_per_vcpu > 0 && var.channels_per_vcpu <= 20
    error_message = "channels_per_vcpu must be greater than 0 and at most 20."
  }
}

variable "worker_root_volume_gb" {
  type        = number
  description = "Root EBS volume of each worker in GiB (OS, Nomad data, ffmpeg scratch)."
  default     = 30

  validation {
    condition     = var.worker_root_volume_gb >= 16 && var.worker_root_volume_gb <= 1000
    error_message = "worker_root_volume_gb must be between 16 and 1000."
  }
}

# --- control plane nodes (api, scheduler, origin run there as Nomad jobs) --------------------

variable "control_instance_type" {
  type        = string
  description = "EC2 instance type of the control-plane Nomad clients (api, scheduler and origin node groups)."
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.control_instance_type))
    error_message = "control_instance_type must be an EC2 instance type such as t3.medium."
  }
}

variable "control_node_count" {
  type        = number
  description = "Instances in each control-plane node group (api, scheduler, origin). Two keep each service up through one instance or zone failure."
  default     = 2

  validation {
    condition     = var.control_node_count >= 1 && var.control_node_count <= 10 && floor(var.control_node_count) == var.control_node_count
    error_message = "control_node_count must be a whole number from 1 to 10."
  }
}

# --- Redis ------------------------------------------------------------------------------

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type for Redis."
  default     = "cache.t4g.medium"

  validation {
    # t1 nodes cannot keep snapshots, and snapshots are our persistence.
    condition     = startswith(var.redis_node_type, "cache.") && !startswith(var.redis_node_type, "cache.t1.")
    error_message = "redis_node_type must be an ElastiCache node type (cache.*), not cache.t1.*."
  }
}

variable "redis_engine_version" {
  type        = string
  description = "Redis engine version (major.minor)."
  default     = "7.1"

  validation {
    condition     = can(regex("^[67]\\.[0-9]+$", var.redis_engine_version))
    error_message = "redis_engine_version must be 6.x or 7.x written as major.minor, e.g. 7.1."
  }
}

variable "redis_replica_count" {
  type        = number
  description = "Read replicas besides the primary. At least one, so that automatic failover has somewhere to go."
  default     = 1

  validation {
    condition     = var.redis_replica_count >= 1 && var.redis_replica_count <= 5
    error_message = "redis_replica_count must be from 1 to 5."
  }
}

variable "redis_snapshot_retention_days" {
  type        = number
  description = "Days ElastiCache keeps the daily Redis snapshots (RDB). Jobs, stream keys and job history live in Redis."
  default     = 7

  validation {
    condition     = var.redis_snapshot_retention_days >= 1 && var.redis_snapshot_retention_days <= 35
    error_message = "redis_snapshot_retention_days must be from 1 to 35."
  }
}

variable "redis_auth_token" {
  type        = string
  description = "Redis AUTH token (generate once, e.g. `openssl rand -hex 24`). Stored in SSM Parameter Store for the instances, never in user data."
  sensitive   = true

  validation {
    # A subset of what ElastiCache allows (16-128 printable, no @ " /) that is
    # also safe unquoted in /etc/ezlive/ezlive.env and in a rediss:// URL.
    condition     = can(regex("^[A-Za-z0-9_.+=-]{16,128}$", var.redis_auth_token))
    error_message = "redis_auth_token must be 16-128 characters of letters, digits and _ . + = - (e.g. openssl rand -hex 24)."
  }
}

variable "nomad_gossip_key" {
  type        = string
  description = "Nomad server gossip encryption key, base64 of 16, 24 or 32 random bytes (e.g. `openssl rand -base64 32`). Stored in SSM Parameter Store for the servers."
  sensitive   = true

  validation {
    condition     = can(regex("^([A-Za-z0-9+/]{22}==|[A-Za-z0-9+/]{32}|[A-Za-z0-9+/]{43}=)$", var.nomad_gossip_key))
    error_message = "nomad_gossip_key must be the base64 encoding of 16, 24 or 32 bytes (openssl rand -base64 32)."
  }
}

variable "drm_kek" {
  type        = string
  description = "Key-encryption key of the DRM content keys in Redis (EZLIVE_DRM_KEK of the api and origin), base64 of 32 random bytes (`openssl rand -base64 32`). Generate it once and keep it: losing or changing it makes every stored content key unreadable. Stored in SSM Parameter Store for the api and origin nodes only, never in user data."
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{43}=$", var.drm_kek))
    error_message = "drm_kek must be the base64 encoding of exactly 32 bytes (44 characters ending in '='); make one with `openssl rand -base64 32`."
  }
}

# Nomad mutual TLS: a CA and one certificate per agent role, made once by
# the operator with `nomad tls ca create` and `nomad tls cert create -server`
# / `-client` (README.md). The CA's private key never reaches Terraform.

variable "nomad_tls_ca_cert" {
  type        = string
  description = "PEM certificate of the Nomad cluster CA (nomad-agent-ca.pem from `nomad tls ca create`)."

  validation {
    condition     = startswith(trimspace(var.nomad_tls_ca_cert), "-----BEGIN CERTIFICATE-----") && length(var.nomad_tls_ca_cert) <= 4096
    error_message = "nomad_tls_ca_cert must be one PEM certificate (-----BEGIN CERTIFICATE-----), at most 4096 characters."
  }
}

variable "nomad_tls_server_cert" {
  type        = string
  description = "PEM certificate of the Nomad servers (global-server-nomad.pem from `nomad tls cert create -server -region global`: names server.global.nomad)."

  validation {
    condition     = startswith(trimspace(var.nomad_tls_server_cert), "-----BEGIN CERTIFICATE-----") && length(var.nomad_tls_server_cert) <= 4096
    error_message = "nomad_tls_server_cert must be one PEM certificate (-----BEGIN CERTIFICATE-----), at most 4096 characters."
  }
}

variable "nomad_tls_server_key" {
  type        = string
  description = "PEM private key of nomad_tls_server_cert. Stored in SSM Parameter Store for the servers, never in user data."
  sensitive   = true

  validation {
    condition     = can(regex("^-----BEGIN (EC |RSA )?PRIVATE KEY-----", trimspace(var.nomad_tls_server_key))) && length(var.nomad_tls_server_key) <= 4096
    error_message = "nomad_tls_server_key must be a PEM private key (-----BEGIN EC PRIVATE KEY----- or similar), at most 4096 characters."
  }
}

variable "nomad_tls_client_cert" {
  type        = string
  description = "PEM certificate of the Nomad clients (global-client-nomad.pem from `nomad tls cert create -client -region global`: names client.global.nomad)."

  validation {
    condition     = startswith(trimspace(var.nomad_tls_client_cert), "-----BEGIN CERTIFICATE-----") && length(var.nomad_tls_client_cert) <= 4096
    error_message = "nomad_tls_client_cert must be one PEM certificate (-----BEGIN CERTIFICATE-----), at most 4096 characters."
  }
}

variable "nomad_tls_client_key" {
  type        = string
  description = "PEM private key of nomad_tls_client_cert. Stored in SSM Parameter Store for the clients, never in user data."
  sensitive   = true

  validation {
    condition     = can(regex("^-----BEGIN (EC |RSA )?PRIVATE KEY-----", trimspace(var.nomad_tls_client_key))) && length(var.nomad_tls_client_key) <= 4096
    error_message = "nomad_tls_client_key must be a PEM private key (-----BEGIN EC PRIVATE KEY----- or similar), at most 4096 characters."
  }
}

variable "nomad_management_token" {
  type        = string
  description = "Secret ID of the Nomad ACL management token (generate once: `uuidgen`). Kept in Secrets Manager; the servers bootstrap the ACL system with it (`nomad acl bootstrap <file>`), so it is known before the cluster exists and never lost to a failed boot."
  sensitive   = true

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.nomad_management_token))
    error_message = "nomad_management_token must be a lowercase UUID (uuidgen | tr A-F a-f)."
  }
}

# --- SQS command queue -----------------------------------------------------------------------

variable "queue_visibility_timeout_seconds" {
  type        = number
  description = "Visibility timeout of the command queue. The scheduler extends it (ChangeMessageVisibility) while a command takes longer, so this only bounds how long a command stays hidden after a scheduler dies."
  default     = 60

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 30 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be from 30 to 43200 (12 hours, SQS's limit)."
  }
}

variable "queue_max_receive_count" {
  type        = number
  description = "Deliveries of one command before SQS moves it to the dead-letter queue."
  default     = 5

  validation {
    condition     = var.queue_max_receive_count >= 1 && var.queue_max_receive_count <= 1000
    error_message = "queue_max_receive_count must be from 1 to 1000."
  }
}

variable "queue_message_retention_seconds" {
  type        = number
  description = "How long the command queue keeps an unhandled command (the dead-letter queue keeps its messages 14 days)."
  default     = 345600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be from 60 to 1209600 (14 days)."
  }
}

# --- delivery ------------------------------------------------------------------------------

variable "cloudfront_price_class" {
  type        = string
  description = "CloudFront price class of the playback distribution."
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cloudfront_price_class)
    error_message = "cloudfront_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "origin_storage" {
  type        = string
  description = "Where `ezlive origin` keeps outputs: \"fs\" (the shared EFS file system) or \"s3\" (the outputs bucket, storage.tf)."
  default     = "fs"

  validation {
    condition     = contains(["fs", "s3"], var.origin_storage)
    error_message = "origin_storage must be \"fs\" or \"s3\"."
  }
}

variable "outputs_retention_days" {
  type        = number
  description = "Days after which the outputs bucket expires an object under outputs/ (what the origin did not remove when its job was deleted)."
  default     = 30

  validation {
    condition     = var.outputs_retention_days >= 1 && floor(var.outputs_retention_days) == var.outputs_retention_days
    error_message = "outputs_retention_days must be a whole number of days, at least 1."
  }
}
