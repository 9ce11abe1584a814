package terraform_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// TestConfiguration runs every check on terraform/ itself: it parses, every
// reference resolves, the DLQ is wired, tags follow the rule, variables are
// typed, described and validated, and the files it reads exist. Files of
// nomad/ that are not written yet make it skip (after any real failure).
func TestConfiguration(t *testing.T) {
	t.Parallel()
	ps := checkModule(".")
	for _, msg := range messages(ps, defect) {
		t.Error(msg)
	}
	if missing := messages(ps, missingNomad); len(missing) > 0 {
		t.Skipf("nomad/ is not complete yet, so user data cannot be rendered:\n%s", strings.Join(missing, "\n"))
	}
}

// TestCheckerCatchesBrokenCopies breaks a copy of the configuration in one
// way at a time and expects the checker to say so: a checker that passes
// everything proves nothing.
func TestCheckerCatchesBrokenCopies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, old, new, want string
	}{
		{"undeclared variable", "variables.tf",
			`variable "az_count" {`, `variable "zone_count" {`,
			"var.az_count is not declared"},
		{"undeclared local", "main.tf",
			"nomad_join_tag_value = local.name", "nomad_join_tag_value = local.no_such_local",
			"local.no_such_local is not declared"},
		{"undeclared resource", "network.tf",
			"aws_internet_gateway.main.id", "aws_internet_gateway.missing.id",
			"resource aws_internet_gateway.missing is not declared"},
		{"undeclared data source", "compute.tf",
			"data.aws_ami.debian.id", "data.aws_ami.ubuntu.id",
			"data.aws_ami.ubuntu is not declared"},
		{"count outside a counted block", "network.tf",
			"route_table_id         = aws_route_table.public.id", "route_table_id         = aws_route_table.public[count.index].id",
			"count.index used outside a block with count"},
		{"dead-letter target not a queue of ours", "queue.tf",
			"deadLetterTargetArn = aws_sqs_queue.commands_dlq.arn", `deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:elsewhere"`,
			"deadLetterTargetArn must be aws_sqs_queue.<dlq>.arn"},
		{"queue is its own DLQ", "queue.tf",
			"deadLetterTargetArn = aws_sqs_queue.commands_dlq.arn", "deadLetterTargetArn = aws_sqs_queue.commands.arn",
			"is its own dead-letter queue"},
		{"no maxReceiveCount", "queue.tf",
			"    maxReceiveCount     = var.queue_max_receive_count\n", "",
			"has no maxReceiveCount"},
		{"no redrive policy at all", "queue.tf",
			"  redrive_policy = jsonencode", "  redrive_policy_off = jsonencode",
			"no aws_sqs_queue has a wired redrive_policy"},
		{"no default_tags", "versions.tf",
			"  default_tags {\n    tags = local.tags\n  }\n", "",
			"must have default_tags"},
		{"required tag missing", "main.tf",
			"    ManagedBy   = \"terraform\"\n", "",
			"local.required_tags lacks the ManagedBy tag"},
		{"required tags can be overridden", "main.tf",
			"merge(var.extra_tags, local.required_tags)", "merge(local.required_tags, var.extra_tags)",
			"local.tags must be merge(..., local.required_tags)"},
		{"resource overrides a required tag", "network.tf",
			"tags = { Name = local.name }", `tags = { Name = local.name, Project = "other" }`,
			"sets the required tag Project"},
		{"ASG tags not propagated", "compute.tf",
			"propagate_at_launch = true", "propagate_at_launch = false",
			"does not propagate the Project tag"},
		{"launch template volumes untagged", "compute.tf",
			`resource_type = "volume"`, `resource_type = "network-interface"`,
			`no tag_specifications for "volume"`},
		{"variable without description", "variables.tf",
			"  description = \"How many availability zones to spread subnets, Nomad servers, workers and Redis over.\"\n", "",
			"variable az_count has no description"},
		{"variable without type", "variables.tf",
			"  type        = number\n  description = \"How many", "  description = \"How many",
			"variable az_count has no type"},
		{"variable without validation", "variables.tf",
			"  validation {\n    condition     = var.rtmp_port", "  assertion {\n    condition     = var.rtmp_port",
			"variable rtmp_port has no validation block"},
		{"output without description", "outputs.tf",
			"  description = \"URL of the SQS command queue.\"\n", "",
			"output queue_url has no description"},
		{"template variable not passed", "templates/nomad-server.sh.tftpl",
			"bootstrap_expect = ${bootstrap_expect}", "bootstrap_expect = ${bootstrap_expected}",
			"template uses bootstrap_expected"},
		{"client template variable not passed", "templates/nomad-client.sh.tftpl",
			`node_pool  = "${node_pool}"`, `node_pool  = "${nodepool}"`,
			"template uses nodepool"},
		{"template file missing", "compute.tf",
			"templates/nomad-server.sh.tftpl", "templates/nomad-server.tftpl",
			"cannot be read"},
		{"syntax error", "outputs.tf",
			`output "api_url" {`, `output "api_url" {{`,
			"parse outputs.tf"},
		{"README forgets a job file", "README.md",
			"ezlive-scheduler.nomad.hcl", "the scheduler job",
			"README.md does not tell how to run nomad/ezlive-scheduler.nomad.hcl"},
		{"README forgets the ingest job", "README.md",
			"ezlive-ingest.nomad.hcl", "the ingest job",
			"README.md does not tell how to run nomad/ezlive-ingest.nomad.hcl"},
		{"README forgets the scheduler's policy", "README.md",
			"scheduler-policy.hcl", "a policy file",
			"README.md does not tell how to run nomad/scheduler-policy.hcl"},
		// security: instances private, reached through load balancers
		{"workers in public subnets", "compute.tf",
			"subnet_ids         = aws_subnet.private[*].id # publishers", "subnet_ids         = aws_subnet.public[*].id # publishers",
			"launches instances into aws_subnet.public, a public subnet"},
		{"servers in public subnets", "compute.tf",
			"vpc_zone_identifier       = aws_subnet.private[*].id\n  target_group_arns         = [aws_lb_target_group.nomad.arn]", "vpc_zone_identifier       = aws_subnet.public[*].id\n  target_group_arns         = [aws_lb_target_group.nomad.arn]",
			"aws_autoscaling_group.nomad_server launches instances into aws_subnet.public"},
		{"private subnets map public IPs", "network.tf",
			"  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)\n", "  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)\n  map_public_ip_on_launch = true\n",
			"launches instances into aws_subnet.private, a public subnet"},
		{"instances get public IPs", "compute.tf",
			"associate_public_ip_address = false", "associate_public_ip_address = true",
			"gives instances a public IP"},
		{"workers open to an address range", "security_groups.tf",
			"  referenced_security_group_id = aws_security_group.nlb_ingest.id\n  from_port                    = each.value", "  cidr_ipv4                    = \"0.0.0.0/0\"\n  from_port                    = each.value",
			"opens aws_security_group.worker, an instance group, to an address range"},
		// security: CloudFront to the origin over HTTPS
		{"CloudFront to the origin over HTTP", "delivery.tf",
			`origin_protocol_policy = "https-only"`, `origin_protocol_policy = "match-viewer"`,
			`origin_protocol_policy is "match-viewer"; it must be "https-only"`},
		{"CloudFront allows TLS 1.0", "delivery.tf",
			`origin_ssl_protocols   = ["TLSv1.2"]`, `origin_ssl_protocols   = ["TLSv1", "TLSv1.2"]`,
			"origin_ssl_protocols is [TLSv1 TLSv1.2]"},
		{"CloudFront to the load balancer's own name", "delivery.tf",
			"domain_name = var.origin_domain_name", "domain_name = aws_lb.origin.dns_name",
			"origin is a load balancer's own DNS name"},
		{"origin listener in clear", "load_balancers.tf",
			"  protocol          = \"HTTPS\"\n  ssl_policy        = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"\n  certificate_arn   = local.origin_certificate_arn\n", "  protocol          = \"HTTP\"\n",
			"aws_lb_listener.origin_read on aws_lb.origin, which CloudFront reaches, must be protocol \"HTTPS\""},
		{"CloudFront let in on port 80", "security_groups.tf",
			"  from_port         = 443\n  to_port           = 443", "  from_port         = 80\n  to_port           = 80",
			"lets CloudFront in on ports other than 443"},
		// security: Nomad mutual TLS and ACLs
		{"agents' RPC without TLS", "../nomad/tls.hcl",
			"  rpc  = true\n", "  rpc  = false\n",
			"tls.rpc must be true"},
		{"agents' HTTP API without TLS", "../nomad/tls.hcl",
			"  http = true\n", "",
			"tls.http must be true"},
		{"agents trust any server name", "../nomad/tls.hcl",
			"verify_server_hostname = true", "verify_server_hostname = false",
			"tls.verify_server_hostname must be true"},
		{"no tls block at all", "../nomad/tls.hcl",
			"tls {", "tls_off {",
			"the Nomad configuration of nomad-server.sh.tftpl (scheduler-policy.hcl, server.hcl, tls.hcl) has no tls block"},
		{"user data leaves out tls.hcl", "templates/nomad-tls.sh.tftpl",
			"${tls_hcl}", "",
			"the Nomad configuration of nomad-client.sh.tftpl (client.hcl) has no tls block"},
		{"server ACLs off", "../nomad/server.hcl",
			"acl {\n  enabled = true", "acl {\n  enabled = false",
			"ACLs are off in the Nomad configuration of nomad-server.sh.tftpl"},
		{"agent key never written", "templates/nomad-tls.sh.tftpl",
			">/etc/nomad.d/tls/agent-key.pem", ">/etc/nomad.d/tls/key.pem",
			"tls.key_file is \"/etc/nomad.d/tls/agent-key.pem\", which no user data template writes"},
		{"user data overrides TLS", "templates/nomad-server.sh.tftpl",
			"data_dir = \"/opt/nomad/data\"\n", "data_dir = \"/opt/nomad/data\"\n\ntls {\n  http = false\n}\n",
			"templates/nomad-server.sh.tftpl writes a tls block of its own"},
		// security: ACL bootstrap
		{"no ACL bootstrap", "templates/nomad-server.sh.tftpl",
			"  nomad acl bootstrap \"$token_file\"", "  true \"$token_file\"",
			"does not bootstrap the ACL system"},
		{"bootstrap token not from Secrets Manager", "templates/nomad-server.sh.tftpl",
			"aws secretsmanager get-secret-value", "cat /etc/nomad-token",
			"does not take the management token from Secrets Manager"},
		{"scheduler policy not applied", "templates/nomad-server.sh.tftpl",
			"nomad acl policy apply", "echo policy",
			"does not apply the scheduler's policy"},
		{"scheduler policy a copy", "compute.tf",
			`scheduler_policy_hcl    = file("${local.nomad_dir}/scheduler-policy.hcl")`, `scheduler_policy_hcl    = "namespace \"default\" {}"`,
			"does not render nomad/scheduler-policy.hcl"},
		{"bootstrap token not a managed secret", "compute.tf",
			"management_token_secret = aws_secretsmanager_secret.nomad_management_token.arn", `management_token_secret = "ezlive/prod/token"`,
			"is given no aws_secretsmanager_secret"},
		// security: secrets read only where they are used
		{"DRM KEK readable by workers", "compute.tf",
			`drm_kek_groups = toset(["api", "origin"])`, `drm_kek_groups = toset(["api", "origin", "worker"])`,
			"role worker may read aws_ssm_parameter.drm_kek (var.drm_kek); only [api origin] may"},
		{"DRM KEK in every client's policy", "iam.tf",
			"      aws_ssm_parameter.redis_auth_token.arn,\n", "      aws_ssm_parameter.redis_auth_token.arn,\n      aws_ssm_parameter.drm_kek.arn,\n",
			"role scheduler may read aws_ssm_parameter.drm_kek"},
		{"origin cannot read the DRM KEK", "compute.tf",
			`drm_kek_groups = toset(["api", "origin"])`, `drm_kek_groups = toset(["api"])`,
			"role origin cannot read aws_ssm_parameter.drm_kek"},
		{"DRM KEK not in SSM", "secrets.tf",
			"value       = var.drm_kek", `value       = "unset"`,
			"no aws_ssm_parameter holds var.drm_kek"},
		{"DRM KEK granted where the checker cannot follow", "iam.tf",
			"role   = aws_iam_role.client[each.key].id\n  policy = data.aws_iam_policy_document.drm_kek.json", "role   = local.kek_role\n  policy = data.aws_iam_policy_document.drm_kek.json",
			"the checker cannot tell which roles it reaches"},
		{"DRM KEK through another policy document", "iam.tf",
			"data \"aws_iam_policy_document\" \"client_base\" {\n", "data \"aws_iam_policy_document\" \"client_base\" {\n  source_policy_documents = [data.aws_iam_policy_document.drm_kek.json]\n",
			"data.aws_iam_policy_document.client_base includes data.aws_iam_policy_document.drm_kek"},
		// security: the outputs bucket
		{"bucket policy may go public", "storage.tf",
			"block_public_policy     = true", "block_public_policy     = false",
			"aws_s3_bucket.outputs has no aws_s3_bucket_public_access_block with all four settings true"},
		{"bucket not encrypted", "storage.tf",
			`sse_algorithm = "AES256"`, `sse_algorithm = "none"`,
			"aws_s3_bucket.outputs has no aws_s3_bucket_server_side_encryption_configuration"},
		{"bucket keeps everything", "storage.tf",
			"    expiration {", "    noncurrent_version_expiration {",
			"aws_s3_bucket.outputs has no enabled lifecycle rule with an expiration"},
		{"bucket readable by anyone", "storage.tf",
			"      type        = \"Service\"\n      identifiers = [\"cloudfront.amazonaws.com\"]", "      type        = \"*\"\n      identifiers = [\"*\"]",
			"outputs_bucket allows anyone (principal *) into the bucket"},
		{"bucket readable by any distribution", "storage.tf",
			`variable = "AWS:SourceArn"`, `variable = "aws:SourceAccount"`,
			"lets every CloudFront distribution read the bucket"},
		{"bucket over plain HTTP", "storage.tf",
			`variable = "aws:SecureTransport"`, `variable = "aws:SourceIp"`,
			"does not deny requests without TLS"},
		{"Session Manager through the managed policy", "iam.tf",
			"resource \"aws_iam_role_policy\" \"session_manager\" {\n  for_each = local.ssm_roles\n\n  name   = \"session-manager\"\n  role   = each.value\n  policy = data.aws_iam_policy_document.session_manager.json",
			"resource \"aws_iam_role_policy_attachment\" \"session_manager\" {\n  for_each = local.ssm_roles\n\n  role       = each.value\n  policy_arn = \"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore\"",
			"attaches AmazonSSMManagedInstanceCore, which allows ssm:GetParameter on every parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyModule(t)
			path := filepath.Join(dir, tt.file)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), tt.old) {
				t.Fatalf("%s no longer contains %q: update this case", tt.file, tt.old)
			}
			broken := strings.ReplaceAll(string(src), tt.old, tt.new)
			if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			got := messages(checkModule(dir), defect)
			if !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, tt.want) }) {
				t.Errorf("checker missed %s: want a problem containing %q, got:\n%s", tt.name, tt.want, strings.Join(got, "\n"))
			}
		})
	}
}

// copyModule copies terraform/ (.tf files, templates, README) into a temp
// dir, with nomad/'s configuration files beside it as in the repository.
func copyModule(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "terraform")
	for _, pattern := range []string{"*.tf", "README.md", "templates/*", "../nomad/*.hcl"} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range matches {
			copyFile(t, src, filepath.Join(dir, src))
		}
	}
	return dir
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNomadFilesMatchNodeGroups: what nomad/ says agrees with what
// Terraform provisions, with the job files' variables at their defaults.
// Workers join the worker group's pool and class; each control-plane job
// runs in its group's pool and, where that pool is shared, pins itself to
// its group's node class (the node whose IAM role fits it); the api, origin
// and ingest jobs listen on the static ports and answer the health paths
// that the load balancers' target groups use.
func TestNomadFilesMatchNodeGroups(t *testing.T) {
	t.Parallel()
	m := loadModule(".")
	groups := m.nodeGroups()
	if len(groups) == 0 {
		t.Fatal("local.client_groups names no node group with node_pool and node_class")
	}
	files := []struct {
		file, group string
		portVars    []string // static ports the load balancers send to
		pathVar     string   // the health path they check ("" when fixed, below)
	}{
		{"client.hcl", "worker", nil, ""},
		{"ezlive-api.nomad.hcl", "api", []string{"api_port"}, "api_health_path"},
		{"ezlive-scheduler.nomad.hcl", "scheduler", nil, ""},
		{"ezlive-origin.nomad.hcl", "origin", []string{"origin_port"}, "origin_health_path"},
		{"ezlive-ingest.nomad.hcl", "worker", []string{"rtmp_port", "ingest_health_port"}, ""},
	}
	for _, f := range files {
		t.Run(f.file, func(t *testing.T) {
			t.Parallel()
			g, ok := groups[f.group]
			if !ok {
				t.Fatalf("terraform provisions no %q node group", f.group)
			}
			path := filepath.Join("..", "nomad", f.file)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("nomad/%s is not written yet: %v", f.file, err)
			}
			n := readNomadFile(t, path)
			if n.pool != g.pool {
				t.Errorf("nomad/%s uses node pool %q, terraform puts the %s group in %q", f.file, n.pool, f.group, g.pool)
			}
			if f.group == "worker" {
				if n.class != "" && n.class != g.class {
					t.Errorf("nomad/%s sets node_class %q, terraform sets %q", f.file, n.class, g.class)
				}
			} else if sharesPool(groups, f.group) && !slices.Contains(n.classConstraints, g.class) {
				t.Errorf("nomad/%s can land on any node of pool %q, whose groups have different IAM roles: default its var.node_class to %q", f.file, g.pool, g.class)
			}
			for _, portVar := range f.portVars {
				if want := m.defaultOf(t, portVar); !slices.Contains(n.staticPorts, want) {
					t.Errorf("nomad/%s listens on static ports %v; the target group uses var.%s = %s", f.file, n.staticPorts, portVar, want)
				}
			}
			if f.pathVar != "" {
				if want := m.defaultOf(t, f.pathVar); !slices.Contains(n.checkPaths, want) {
					t.Errorf("nomad/%s checks paths %v; the target group checks var.%s = %s", f.file, n.checkPaths, f.pathVar, want)
				}
			}
		})
	}
}

// nomadFile is what TestNomadFilesMatchNodeGroups reads from an agent config or job file.
type nomadFile struct {
	pool, class      string
	classConstraints []string // node classes the job is constrained to
	staticPorts      []string
	checkPaths       []string
}

// readNomadFile reads a Nomad file with its variables (var.*) at their defaults.
func readNomadFile(t *testing.T, path string) nomadFile {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", path, diags.Error())
	}
	body := f.Body.(*hclsyntax.Body)
	ctx := variableDefaults(body)
	n := nomadFile{pool: "default"}
	hclsyntax.VisitAll(body, func(node hclsyntax.Node) hcl.Diagnostics {
		b, ok := node.(*hclsyntax.Block)
		if !ok {
			return nil
		}
		attrs := b.Body.Attributes
		switch b.Type {
		case "job", "client":
			n.pool = valueOr(attrs["node_pool"], ctx, n.pool)
			n.class = valueOr(attrs["node_class"], ctx, n.class)
		case "constraint":
			if a := attrs["attribute"]; a != nil && refersTo(a.Expr, "node", "class") {
				n.classConstraints = append(n.classConstraints, valueOr(attrs["value"], ctx, ""))
			}
		case "dynamic":
			// dynamic "constraint" { for_each = [class] or [], content { attribute = "${node.class}" } }
			content := firstBlock(b.Body, "content")
			if b.Labels[0] != "constraint" || content == nil || content.Body.Attributes["attribute"] == nil ||
				!refersTo(content.Body.Attributes["attribute"].Expr, "node", "class") {
				return nil
			}
			if v, diags := attrs["for_each"].Expr.Value(ctx); !diags.HasErrors() && v.CanIterateElements() {
				for _, c := range v.AsValueSlice() {
					n.classConstraints = append(n.classConstraints, c.AsString())
				}
			}
		case "port":
			if a := attrs["static"]; a != nil {
				n.staticPorts = append(n.staticPorts, valueOr(a, ctx, ""))
			}
		case "check":
			if a := attrs["path"]; a != nil {
				n.checkPaths = append(n.checkPaths, valueOr(a, ctx, ""))
			}
		}
		return nil
	})
	return n
}

// variableDefaults makes var.<name> evaluate to each variable's default.
func variableDefaults(body *hclsyntax.Body) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for _, b := range body.Blocks {
		if b.Type != "variable" {
			continue
		}
		vars[b.Labels[0]] = cty.NullVal(cty.DynamicPseudoType)
		if a := b.Body.Attributes["default"]; a != nil {
			if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
				vars[b.Labels[0]] = v
			}
		}
	}
	return &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
}

// literalOr is the attribute's literal value as a string, or def.
func literalOr(a *hclsyntax.Attribute, def string) string {
	return valueOr(a, nil, def)
}

// valueOr is the attribute's value in ctx as a string, or def.
func valueOr(a *hclsyntax.Attribute, ctx *hcl.EvalContext, def string) string {
	if a == nil {
		return def
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return def
	}
	switch v.Type() {
	case cty.String:
		return v.AsString()
	case cty.Number:
		return v.AsBigFloat().Text('f', -1)
	}
	return def
}

func sharesPool(groups map[string]nodeGroup, name string) bool {
	for other, g := range groups {
		if other != name && g.pool == groups[name].pool {
			return true
		}
	}
	return false
}

func (m *module) defaultOf(t *testing.T, variable string) string {
	t.Helper()
	v := m.variables[variable]
	if v == nil {
		t.Fatalf("var.%s is not declared", variable)
	}
	d := literalOr(v.Body.Attributes["default"], "")
	if d == "" {
		t.Fatalf("var.%s has no literal default", variable)
	}
	return d
}
