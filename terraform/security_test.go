package terraform_test

import (
	"iter"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The fleet's security properties, checked like the rest of checkModule
// (checker_test.go) and caught in broken copies by TestCheckerCatchesBrokenCopies:
//   - checkPrivateInstances: no instance in a public subnet or with a public
//     address, and instances reached only from load balancers, each other
//     and the Nomad servers (security group references, never address ranges);
//   - checkCloudFrontOrigins: CloudFront reaches its origins over HTTPS only
//     (TLS 1.2), by a name a certificate can match, and whatever CloudFront
//     may reach listens with HTTPS and a certificate;
//   - checkNomadAgentTLS: the Nomad configuration every agent's user data
//     renders has mutual TLS and ACLs on, and user data writes the files
//     its tls block names;
//   - checkACLBootstrap: the servers' user data bootstraps ACLs with the
//     token kept in Secrets Manager and applies nomad/scheduler-policy.hcl;
//   - checkNoReadAllPolicies: no role has a managed policy that reads every
//     SSM parameter;
//   - checkSecretReaders: a secret parameter is readable only by the roles
//     of the node groups whose processes use it (secretReaders);
//   - checkPrivateBuckets: every bucket blocks public access, is encrypted,
//     expires what it holds, and has a policy that allows no one at large,
//     lets CloudFront in only for one distribution and refuses plain HTTP.

// --- instances: private subnets, reached through load balancers -------------------------

func (m *module) checkPrivateInstances() {
	public := m.publicSubnets()
	groups := map[string]bool{} // security groups of instances
	for key, b := range m.resources {
		switch b.Labels[0] {
		case "aws_autoscaling_group":
			m.checkSubnets(key, b, "vpc_zone_identifier", public)
		case "aws_instance":
			m.checkSubnets(key, b, "subnet_id", public)
			m.checkNoPublicIP(key, b, b.Body)
			m.addRefs(groups, b, b.Body.Attributes["vpc_security_group_ids"], "aws_security_group")
		case "aws_launch_template":
			m.addRefs(groups, b, b.Body.Attributes["vpc_security_group_ids"], "aws_security_group")
			for ni := range blocksOf(b.Body, "network_interfaces") {
				m.checkNoPublicIP(key, b, ni.Body)
				m.addRefs(groups, b, ni.Body.Attributes["security_groups"], "aws_security_group")
			}
		}
	}
	m.checkInstanceIngress(groups)
}

// publicSubnets are the aws_subnet names that map public IPs at launch or
// whose route table leads to an internet gateway.
func (m *module) publicSubnets() map[string]bool {
	igwTables := map[string]bool{}
	for _, b := range m.resources {
		switch b.Labels[0] {
		case "aws_route":
			if len(refs(b.Body.Attributes["gateway_id"], "aws_internet_gateway")) > 0 {
				for _, t := range refs(b.Body.Attributes["route_table_id"], "aws_route_table") {
					igwTables[t] = true
				}
			}
		case "aws_route_table":
			for r := range blocksOf(b.Body, "route") {
				if len(refs(r.Body.Attributes["gateway_id"], "aws_internet_gateway")) > 0 {
					igwTables[b.Labels[1]] = true
				}
			}
		}
	}
	public := map[string]bool{}
	for _, b := range m.resources {
		switch b.Labels[0] {
		case "aws_subnet":
			if isTrue(b.Body.Attributes["map_public_ip_on_launch"]) {
				public[b.Labels[1]] = true
			}
		case "aws_route_table_association":
			for _, t := range refs(b.Body.Attributes["route_table_id"], "aws_route_table") {
				for _, s := range refs(b.Body.Attributes["subnet_id"], "aws_subnet") {
					public[s] = public[s] || igwTables[t]
				}
			}
		}
	}
	return public
}

func (m *module) checkSubnets(key string, b *hclsyntax.Block, attr string, public map[string]bool) {
	subnets := map[string]bool{}
	m.addRefs(subnets, b, b.Body.Attributes[attr], "aws_subnet")
	if len(subnets) == 0 {
		m.fail(defect, "%s: cannot tell which subnets %s launches into (%s must name aws_subnet resources, directly or through each.value of a local)", at(b.DefRange()), key, attr)
	}
	for s := range subnets {
		if public[s] {
			m.fail(defect, "%s: %s launches instances into aws_subnet.%s, a public subnet (routed to an internet gateway or mapping public IPs): instances belong in private subnets behind the load balancers", at(b.DefRange()), key, s)
		}
	}
}

// checkNoPublicIP: associate_public_ip_address, where set, is false for
// every value it takes.
func (m *module) checkNoPublicIP(key string, b *hclsyntax.Block, body *hclsyntax.Body) {
	a := body.Attributes["associate_public_ip_address"]
	for _, e := range m.eachValue(b, a) {
		if v, diags := e.Value(nil); diags.HasErrors() || v.Type() != cty.Bool || v.True() {
			m.fail(defect, "%s: %s gives instances a public IP (associate_public_ip_address must be false)", at(a.SrcRange), key)
		}
	}
}

// checkInstanceIngress: rules into an instance's security group name
// another group (a load balancer's, the instances' own, the Nomad
// servers'), never an address range: the internet reaches instances only
// through load balancers.
func (m *module) checkInstanceIngress(groups map[string]bool) {
	ranges := map[string][]string{
		"aws_vpc_security_group_ingress_rule": {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"},
		"aws_security_group_rule":             {"cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"},
		"aws_security_group":                  {"cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"},
	}
	for key, b := range m.resources {
		fields, ok := ranges[b.Labels[0]]
		if !ok {
			continue
		}
		rules := []*hclsyntax.Body{b.Body}
		targets := refs(b.Body.Attributes["security_group_id"], "aws_security_group")
		switch b.Labels[0] {
		case "aws_security_group":
			rules, targets = nil, []string{b.Labels[1]}
			for in := range blocksOf(b.Body, "ingress") {
				rules = append(rules, in.Body)
			}
		case "aws_security_group_rule":
			if literalOr(b.Body.Attributes["type"], "") != "ingress" {
				continue
			}
		}
		for _, sg := range targets {
			if !groups[sg] {
				continue
			}
			for _, rule := range rules {
				for _, f := range fields {
					if a := rule.Attributes[f]; a != nil {
						m.fail(defect, "%s: %s opens aws_security_group.%s, an instance group, to an address range (%s): instances take traffic only from load balancers' and other instance groups (referenced_security_group_id)", at(a.SrcRange), key, sg, f)
					}
				}
			}
		}
	}
}

// --- CloudFront: HTTPS to the origin ------------------------------------------------------

func (m *module) checkCloudFrontOrigins() {
	for key, b := range m.resources {
		if b.Labels[0] != "aws_cloudfront_distribution" {
			continue
		}
		for o := range blocksOf(b.Body, "origin") {
			m.checkCloudFrontOrigin(key, o)
		}
	}
	m.checkWhatCloudFrontReaches()
}

func (m *module) checkCloudFrontOrigin(key string, o *hclsyntax.Block) {
	if d := o.Body.Attributes["domain_name"]; d != nil && slices.ContainsFunc(hclsyntax.Variables(d.Expr), func(t hcl.Traversal) bool {
		return t.RootName() == "aws_lb" && attrAt(t, 2) == "dns_name"
	}) {
		m.fail(defect, "%s: %s's origin is a load balancer's own DNS name, which no certificate CloudFront trusts can match: use a name of yours with a certificate (origin_domain_name)", at(d.SrcRange), key)
	}
	c := firstBlock(o.Body, "custom_origin_config")
	if c == nil {
		return
	}
	if p := literalOr(c.Body.Attributes["origin_protocol_policy"], ""); p != "https-only" {
		m.fail(defect, "%s: %s: origin_protocol_policy is %q; it must be \"https-only\" so CloudFront never fetches from the origin in clear", at(c.DefRange()), key, p)
	}
	protocols := literalStrings(c.Body.Attributes["origin_ssl_protocols"])
	if len(protocols) == 0 || slices.ContainsFunc(protocols, func(p string) bool { return p != "TLSv1.2" }) {
		m.fail(defect, "%s: %s: origin_ssl_protocols is %v; it must be [\"TLSv1.2\"] (nothing older)", at(c.DefRange()), key, protocols)
	}
}

// checkWhatCloudFrontReaches: the security group rules that admit
// CloudFront's origin-facing prefix list admit HTTPS (443) only, and every
// listener of a load balancer in such a group is HTTPS with a certificate.
func (m *module) checkWhatCloudFrontReaches() {
	for key, rule := range m.resources {
		if rule.Labels[0] != "aws_vpc_security_group_ingress_rule" || !m.isCloudFrontPrefixList(rule.Body.Attributes["prefix_list_id"]) {
			continue
		}
		if literalOr(rule.Body.Attributes["from_port"], "") != "443" || literalOr(rule.Body.Attributes["to_port"], "") != "443" {
			m.fail(defect, "%s: %s lets CloudFront in on ports other than 443: the origin takes HTTPS only", at(rule.DefRange()), key)
		}
		for _, sg := range refs(rule.Body.Attributes["security_group_id"], "aws_security_group") {
			m.checkListenersHTTPS(sg)
		}
	}
}

func (m *module) checkListenersHTTPS(sg string) {
	for _, lb := range m.resources {
		if lb.Labels[0] != "aws_lb" || !slices.Contains(refs(lb.Body.Attributes["security_groups"], "aws_security_group"), sg) {
			continue
		}
		for key, l := range m.resources {
			if l.Labels[0] != "aws_lb_listener" || !slices.Contains(refs(l.Body.Attributes["load_balancer_arn"], "aws_lb"), lb.Labels[1]) {
				continue
			}
			if literalOr(l.Body.Attributes["protocol"], "") != "HTTPS" || l.Body.Attributes["certificate_arn"] == nil {
				m.fail(defect, "%s: %s on aws_lb.%s, which CloudFront reaches, must be protocol \"HTTPS\" with a certificate_arn", at(l.DefRange()), key, lb.Labels[1])
			}
		}
	}
}

// isCloudFrontPrefixList: a reference to an aws_ec2_managed_prefix_list
// data source named like com.amazonaws.global.cloudfront.origin-facing.
func (m *module) isCloudFrontPrefixList(a *hclsyntax.Attribute) bool {
	if a == nil {
		return false
	}
	return slices.ContainsFunc(hclsyntax.Variables(a.Expr), func(t hcl.Traversal) bool {
		d := m.data["aws_ec2_managed_prefix_list."+attrAt(t, 2)]
		return t.RootName() == "data" && attrAt(t, 1) == "aws_ec2_managed_prefix_list" && d != nil &&
			strings.Contains(literalOr(d.Body.Attributes["name"], ""), "cloudfront")
	})
}

// --- Nomad agents: mutual TLS and ACLs ---------------------------------------------------------

// tlsFileAttrs are the tls block's files, which user data must write.
var tlsFileAttrs = []string{"ca_file", "cert_file", "key_file"}

// checkNomadAgentTLS: the Nomad configuration each agent's user data
// renders (every nomad/ file it embeds) turns on mutual TLS and ACLs, the
// TLS files it names are written by user data, and no template writes a
// tls or acl block of its own over it.
func (m *module) checkNomadAgentTLS() {
	agents := m.agentUserData()
	if len(agents) == 0 {
		m.fail(defect, "no user data template renders a Nomad agent configuration (a nomad/*.hcl with a server or client block)")
	}
	templates := m.templates()
	for _, ud := range agents {
		m.checkAgentTLS(ud, templates)
		if acl := ud.block("acl"); acl == nil || !isTrue(acl.Body.Attributes["enabled"]) {
			m.fail(defect, "%s: ACLs are off in the Nomad configuration of %s (%s): it needs acl { enabled = true }", at(ud.call.Range()), ud.template, ud.names())
		}
	}
	override := regexp.MustCompile(`(?m)^\s*(tls|acl)\s*\{`)
	for name, src := range templates {
		if g := override.FindStringSubmatch(src); g != nil {
			m.fail(defect, "templates/%s writes a %s block of its own, which would override the agent configuration of nomad/", name, g[1])
		}
	}
}

func (m *module) checkAgentTLS(ud agentUserData, templates map[string]string) {
	tls := ud.block("tls")
	if tls == nil {
		m.fail(defect, "%s: the Nomad configuration of %s (%s) has no tls block: agents need mutual TLS (tls { http = true, rpc = true, verify_server_hostname = true })", at(ud.call.Range()), ud.template, ud.names())
		return
	}
	for _, attr := range []string{"http", "rpc", "verify_server_hostname"} {
		if !isTrue(tls.Body.Attributes[attr]) {
			m.fail(defect, "%s: tls.%s must be true", at(tls.DefRange()), attr)
		}
	}
	for _, attr := range tlsFileAttrs {
		path := literalOr(tls.Body.Attributes[attr], "")
		written := path != "" && slices.ContainsFunc(slices.Collect(maps.Values(templates)), func(src string) bool {
			return strings.Contains(src, ">"+path)
		})
		if !written {
			m.fail(defect, "%s: tls.%s is %q, which no user data template writes", at(tls.DefRange()), attr, path)
		}
	}
}

// agentUserData is a templatefile() call that renders a Nomad agent's
// configuration, with the nomad/ files it renders, parsed.
type agentUserData struct {
	call     *hclsyntax.FunctionCallExpr
	template string
	files    map[string]*hclsyntax.Body // by file name
}

func (ud agentUserData) names() string {
	return strings.Join(slices.Sorted(maps.Keys(ud.files)), ", ")
}

// block is the first top-level block of typ in any of the files.
func (ud agentUserData) block(typ string) *hclsyntax.Block {
	for _, name := range slices.Sorted(maps.Keys(ud.files)) {
		if b := firstBlock(ud.files[name], typ); b != nil {
			return b
		}
	}
	return nil
}

func (ud agentUserData) isServer() bool { return ud.block("server") != nil }

// agentUserData lists the templatefile() calls whose rendering holds a
// Nomad agent configuration (a server or client block).
func (m *module) agentUserData() []agentUserData {
	var out []agentUserData
	ctx := m.pathContext()
	for _, call := range m.calls("templatefile") {
		ud := agentUserData{call: call, files: map[string]*hclsyntax.Body{}}
		path, _ := filePath(call, ctx)
		ud.template = filepath.Base(path)
		for _, p := range m.renderedFiles(call, ctx, 0) {
			if filepath.Dir(p) != filepath.Clean(m.nomadDir) {
				continue
			}
			if f, diags := hclparse.NewParser().ParseHCLFile(p); !diags.HasErrors() {
				ud.files[filepath.Base(p)] = f.Body.(*hclsyntax.Body)
			}
		}
		if ud.block("server") != nil || ud.block("client") != nil {
			out = append(out, ud)
		}
	}
	return out
}

// renderedFiles are the files whose text a templatefile() call renders:
// read by file() in a variable the template uses, or rendered in turn by a
// templatefile() in such a variable (through locals too).
func (m *module) renderedFiles(call *hclsyntax.FunctionCallExpr, ctx *hcl.EvalContext, depth int) []string {
	path, ok := filePath(call, ctx)
	src, err := os.ReadFile(path)
	items, itemsOK := m.objectItems(call.Args[len(call.Args)-1])
	if !ok || err != nil || !itemsOK || len(call.Args) != 2 || depth > 3 {
		return nil
	}
	var out []string
	for key, e := range items {
		if !strings.Contains(string(src), "${"+key+"}") {
			continue
		}
		for _, c := range m.outerCalls(e, 0) {
			switch c.Name {
			case "file":
				if p, ok := filePath(c, ctx); ok {
					out = append(out, p)
				}
			case "templatefile":
				out = append(out, m.renderedFiles(c, ctx, depth+1)...)
			}
		}
	}
	return out
}

// outerCalls are the file() and templatefile() calls in e and in the locals
// it references, leaving out those inside a templatefile()'s arguments,
// which renderedFiles follows only where that template uses them.
func (m *module) outerCalls(e hclsyntax.Expression, depth int) []*hclsyntax.FunctionCallExpr {
	if depth > 3 {
		return nil
	}
	var all, templates []*hclsyntax.FunctionCallExpr
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && (c.Name == "file" || c.Name == "templatefile") {
			all = append(all, c)
			if c.Name == "templatefile" {
				templates = append(templates, c)
			}
		}
		return nil
	})
	var out []*hclsyntax.FunctionCallExpr
	for _, c := range all {
		if !slices.ContainsFunc(templates, func(t *hclsyntax.FunctionCallExpr) bool {
			return t != c && t.Range().ContainsOffset(c.Range().Start.Byte)
		}) {
			out = append(out, c)
		}
	}
	for _, t := range hclsyntax.Variables(e) {
		if a := m.locals[attrAt(t, 1)]; t.RootName() == "local" && a != nil {
			out = append(out, m.outerCalls(a.Expr, depth+1)...)
		}
	}
	return out
}

// calls are every call of the named function in the module.
func (m *module) calls(name string) []*hclsyntax.FunctionCallExpr {
	var out []*hclsyntax.FunctionCallExpr
	for _, body := range m.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if c, ok := n.(*hclsyntax.FunctionCallExpr); ok && c.Name == name && len(c.Args) > 0 {
				out = append(out, c)
			}
			return nil
		})
	}
	return out
}

// templates are the user data templates' sources by file name.
func (m *module) templates() map[string]string {
	out := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(m.dir, "templates", "*.tftpl"))
	for _, p := range paths {
		if src, err := os.ReadFile(p); err == nil {
			out[filepath.Base(p)] = string(src)
		}
	}
	return out
}

// --- Nomad ACL bootstrap ---------------------------------------------------------------------------

// bootstrapSteps are what the servers' user data must do, and why.
var bootstrapSteps = []struct{ text, does string }{
	{"nomad acl bootstrap", "bootstrap the ACL system"},
	{"aws secretsmanager get-secret-value", "take the management token from Secrets Manager"},
	{"nomad acl policy apply", "apply the scheduler's policy"},
	{"-job ezlive_scheduler", "attach that policy to the ezlive_scheduler job's workload identity"},
}

// checkACLBootstrap: the servers' user data bootstraps ACLs with a Secrets
// Manager secret this module manages, and renders
// nomad/scheduler-policy.hcl itself (not a copy) to apply it.
func (m *module) checkACLBootstrap() {
	ctx := m.pathContext()
	servers := 0
	for _, ud := range m.agentUserData() {
		if !ud.isServer() {
			continue
		}
		servers++
		path, _ := filePath(ud.call, ctx)
		src, _ := os.ReadFile(path)
		for _, step := range bootstrapSteps {
			if !strings.Contains(string(src), step.text) {
				m.fail(defect, "%s: the Nomad servers' user data (%s) does not %s (%q)", at(ud.call.Range()), ud.template, step.does, step.text)
			}
		}
		if ud.files["scheduler-policy.hcl"] == nil {
			m.fail(defect, "%s: the Nomad servers' user data does not render nomad/scheduler-policy.hcl (file()), so the policy it applies is not the repository's", at(ud.call.Range()))
		}
		items, _ := m.objectItems(ud.call.Args[1])
		if !slices.ContainsFunc(slices.Collect(maps.Values(items)), func(e hclsyntax.Expression) bool {
			return slices.ContainsFunc(hclsyntax.Variables(e), func(t hcl.Traversal) bool { return t.RootName() == "aws_secretsmanager_secret" })
		}) {
			m.fail(defect, "%s: the Nomad servers' user data is given no aws_secretsmanager_secret to read the management token from", at(ud.call.Range()))
		}
	}
	if servers == 0 {
		m.fail(defect, "no user data template renders a Nomad server configuration: nothing bootstraps ACLs")
	}
}

// --- secrets: read only where they are used -------------------------------------------------

// readsEveryParameter are AWS managed policies that allow ssm:GetParameter
// on "*": a role with one reads every secret parameter.
var readsEveryParameter = []string{"AmazonSSMManagedInstanceCore", "AmazonSSMReadOnlyAccess", "AmazonEC2RoleforSSM"}

// checkNoReadAllPolicies: no aws_iam_role_policy_attachment attaches a
// policy of readsEveryParameter.
func (m *module) checkNoReadAllPolicies() {
	for _, key := range slices.Sorted(maps.Keys(m.resources)) {
		b := m.resources[key]
		arn := b.Body.Attributes["policy_arn"]
		if b.Labels[0] != "aws_iam_role_policy_attachment" || arn == nil {
			continue
		}
		for _, p := range readsEveryParameter {
			if strings.Contains(literalText(arn.Expr), p) {
				m.fail(defect, "%s: %s attaches %s, which allows ssm:GetParameter on every parameter, secrets included: grant what the role needs in a policy of its own", at(arn.SrcRange), key, p)
			}
		}
	}
}

// secretReaders are, by the variable an aws_ssm_parameter holds, the roles
// that alone may read it: a node group's name for its aws_iam_role.client,
// a role's resource name otherwise. The DRM key-encryption key is read by
// `ezlive api` and `ezlive origin` only (EZLIVE_DRM_KEK, internal/cli).
var secretReaders = map[string][]string{
	"drm_kek": {"api", "origin"},
}

// checkSecretReaders: each parameter holding a variable of secretReaders
// is granted (through aws_iam_policy_document and aws_iam_role_policy) to
// exactly the listed roles.
func (m *module) checkSecretReaders() {
	for _, variable := range slices.Sorted(maps.Keys(secretReaders)) {
		m.checkParameterReaders(variable, secretReaders[variable])
	}
}

func (m *module) checkParameterReaders(variable string, want []string) {
	found := false
	for key, p := range m.resources {
		v := p.Body.Attributes["value"]
		if p.Labels[0] != "aws_ssm_parameter" || v == nil || !refersTo(v.Expr, "var", variable) {
			continue
		}
		found = true
		readers := m.parameterReaders(p.Labels[1])
		for _, r := range slices.Sorted(maps.Keys(readers)) {
			if !slices.Contains(want, r) {
				m.fail(defect, "%s: role %s may read %s (var.%s); only %v may", readers[r], r, key, variable, want)
			}
		}
		for _, r := range want {
			if readers[r] == "" {
				m.fail(defect, "%s: role %s cannot read %s (var.%s), which its processes need", at(p.DefRange()), r, key, variable)
			}
		}
	}
	if !found {
		m.fail(defect, "no aws_ssm_parameter holds var.%s", variable)
	}
}

// parameterReaders maps each role a policy grants aws_ssm_parameter.<name>
// to where. A policy the checker cannot follow to its roles is a problem.
func (m *module) parameterReaders(name string) map[string]string {
	readers := map[string]string{}
	for _, doc := range m.data {
		if doc.Labels[0] != "aws_iam_policy_document" || !bodyRefersTo(doc.Body, "aws_ssm_parameter", name) {
			continue
		}
		for key, b := range m.resources {
			if !bodyRefersTo(b.Body, "aws_iam_policy_document", doc.Labels[1]) {
				continue
			}
			roles, ok := m.rolesOf(b)
			if !ok {
				m.fail(defect, "%s: %s uses data.aws_iam_policy_document.%s, which grants aws_ssm_parameter.%s, and the checker cannot tell which roles it reaches (attach it with aws_iam_role_policy, role = aws_iam_role.<name>[<key>].id)", at(b.DefRange()), key, doc.Labels[1], name)
			}
			for _, r := range roles {
				readers[r] = at(b.DefRange())
			}
		}
		for key, d := range m.data {
			if bodyRefersTo(d.Body, "aws_iam_policy_document", doc.Labels[1]) {
				m.fail(defect, "%s: data.%s includes data.aws_iam_policy_document.%s, which grants aws_ssm_parameter.%s; the checker follows a grant only from its own document to aws_iam_role_policy", at(d.DefRange()), key, doc.Labels[1], name)
			}
		}
	}
	for key, b := range m.resources {
		if strings.HasPrefix(b.Labels[0], "aws_iam_") && bodyRefersTo(b.Body, "aws_ssm_parameter", name) {
			m.fail(defect, "%s: %s grants aws_ssm_parameter.%s in a policy of its own; the checker follows aws_iam_policy_document only", at(b.DefRange()), key, name)
		}
	}
	return readers
}

// rolesOf names the roles an aws_iam_role_policy attaches to: role =
// aws_iam_role.<name>.id (the name), aws_iam_role.<name>["<key>"].id (the
// key) or aws_iam_role.<name>[each.key].id (every key of its for_each).
func (m *module) rolesOf(b *hclsyntax.Block) ([]string, bool) {
	role, forEach := b.Body.Attributes["role"], b.Body.Attributes["for_each"]
	if b.Labels[0] != "aws_iam_role_policy" || role == nil {
		return nil, false
	}
	switch e := role.Expr.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		t := e.Traversal
		if t.RootName() != "aws_iam_role" || len(t) < 3 {
			return nil, false
		}
		if ix, ok := t[2].(hcl.TraverseIndex); ok && ix.Key.Type() == cty.String {
			return []string{ix.Key.AsString()}, true
		}
		return []string{attrAt(t, 1)}, true
	case *hclsyntax.RelativeTraversalExpr:
		ix, ok := e.Source.(*hclsyntax.IndexExpr)
		if !ok || forEach == nil || !refersTo(ix.Key, "each", "key") {
			return nil, false
		}
		if coll, ok := ix.Collection.(*hclsyntax.ScopeTraversalExpr); ok && coll.Traversal.RootName() == "aws_iam_role" {
			return m.forEachKeys(forEach.Expr, 0)
		}
	}
	return nil, false
}

// forEachKeys are the keys a for_each takes: an object's (objectItems), or
// a literal list or toset() of strings, directly or through a local.
func (m *module) forEachKeys(e hclsyntax.Expression, depth int) ([]string, bool) {
	if items, ok := m.objectItems(e); ok {
		return slices.Sorted(maps.Keys(items)), true
	}
	switch e := e.(type) {
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "toset" && len(e.Args) == 1 {
			return m.forEachKeys(e.Args[0], depth)
		}
	case *hclsyntax.TupleConsExpr:
		var keys []string
		for _, x := range e.Exprs {
			v, diags := x.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				return nil, false
			}
			keys = append(keys, v.AsString())
		}
		return keys, true
	case *hclsyntax.ScopeTraversalExpr:
		if a := m.locals[attrAt(e.Traversal, 1)]; e.Traversal.RootName() == "local" && a != nil && depth < 3 {
			return m.forEachKeys(a.Expr, depth+1)
		}
	}
	return nil, false
}

// bodyRefersTo: something in body references the resource typ.name, or
// the data source data.typ.name.
func bodyRefersTo(body *hclsyntax.Body, typ, name string) bool {
	found := false
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		if e, ok := n.(*hclsyntax.ScopeTraversalExpr); ok {
			t := e.Traversal
			found = found || (t.RootName() == typ && attrAt(t, 1) == name) ||
				(t.RootName() == "data" && attrAt(t, 1) == typ && attrAt(t, 2) == name)
		}
		return nil
	})
	return found
}

// literalText is the literal string parts of an expression, joined.
func literalText(e hclsyntax.Expression) string {
	var b strings.Builder
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if l, ok := n.(*hclsyntax.LiteralValueExpr); ok && l.Val.Type() == cty.String {
			b.WriteString(l.Val.AsString())
		}
		return nil
	})
	return b.String()
}

// --- helpers ------------------------------------------------------------------------------------------

// eachValue is what an attribute takes: the attribute itself, or, when it is
// each.value.<field> in a block whose for_each is a local object of objects,
// that field of every entry.
func (m *module) eachValue(b *hclsyntax.Block, a *hclsyntax.Attribute) []hclsyntax.Expression {
	if a == nil {
		return nil
	}
	ref, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr)
	fe := b.Body.Attributes["for_each"]
	if !ok || ref.Traversal.RootName() != "each" || attrAt(ref.Traversal, 1) != "value" || fe == nil {
		return []hclsyntax.Expression{a.Expr}
	}
	entries, ok := m.objectItems(fe.Expr)
	if !ok {
		return []hclsyntax.Expression{a.Expr}
	}
	var out []hclsyntax.Expression
	for _, entry := range entries {
		if fields, ok := m.objectItems(entry); ok && fields[attrAt(ref.Traversal, 2)] != nil {
			out = append(out, fields[attrAt(ref.Traversal, 2)])
		}
	}
	return out
}

// addRefs adds to set the names of the typ resources that a (through eachValue) references.
func (m *module) addRefs(set map[string]bool, b *hclsyntax.Block, a *hclsyntax.Attribute, typ string) {
	for _, e := range m.eachValue(b, a) {
		for _, t := range hclsyntax.Variables(e) {
			if t.RootName() == typ {
				set[attrAt(t, 1)] = true
			}
		}
	}
}

// refs names the typ resources an attribute references.
func refs(a *hclsyntax.Attribute, typ string) []string {
	if a == nil {
		return nil
	}
	var names []string
	for _, t := range hclsyntax.Variables(a.Expr) {
		if t.RootName() == typ {
			names = append(names, attrAt(t, 1))
		}
	}
	return names
}

// blocksOf yields body's blocks of typ.
func blocksOf(body *hclsyntax.Body, typ string) iter.Seq[*hclsyntax.Block] {
	return func(yield func(*hclsyntax.Block) bool) {
		for _, b := range body.Blocks {
			if b.Type == typ && !yield(b) {
				return
			}
		}
	}
}

// isTrue: the attribute is the literal true.
func isTrue(a *hclsyntax.Attribute) bool {
	if a == nil {
		return false
	}
	v, diags := a.Expr.Value(nil)
	return !diags.HasErrors() && v.Type() == cty.Bool && v.True()
}

// literalStrings is a literal list of strings, or nil.
func literalStrings(a *hclsyntax.Attribute) []string {
	if a == nil {
		return nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		if e.Type() != cty.String {
			return nil
		}
		out = append(out, e.AsString())
	}
	return out
}

// --- buckets: private, encrypted, expiring ------------------------------------------------

func (m *module) checkPrivateBuckets() {
	for key, b := range m.resources {
		if b.Labels[0] != "aws_s3_bucket" {
			continue
		}
		name := b.Labels[1]
		if !m.bucketHas(name, "aws_s3_bucket_public_access_block", func(c *hclsyntax.Block) bool {
			return isTrue(c.Body.Attributes["block_public_acls"]) && isTrue(c.Body.Attributes["block_public_policy"]) &&
				isTrue(c.Body.Attributes["ignore_public_acls"]) && isTrue(c.Body.Attributes["restrict_public_buckets"])
		}) {
			m.fail(defect, "%s: %s has no aws_s3_bucket_public_access_block with all four settings true", at(b.DefRange()), key)
		}
		if !m.bucketHas(name, "aws_s3_bucket_server_side_encryption_configuration", func(c *hclsyntax.Block) bool {
			for r := range blocksOf(c.Body, "rule") {
				for d := range blocksOf(r.Body, "apply_server_side_encryption_by_default") {
					if a := literalOr(d.Body.Attributes["sse_algorithm"], ""); a == "AES256" || a == "aws:kms" {
						return true
					}
				}
			}
			return false
		}) {
			m.fail(defect, "%s: %s has no aws_s3_bucket_server_side_encryption_configuration", at(b.DefRange()), key)
		}
		if !m.bucketHas(name, "aws_s3_bucket_lifecycle_configuration", func(c *hclsyntax.Block) bool {
			for r := range blocksOf(c.Body, "rule") {
				if literalOr(r.Body.Attributes["status"], "") == "Enabled" && firstBlock(r.Body, "expiration") != nil {
					return true
				}
			}
			return false
		}) {
			m.fail(defect, "%s: %s has no enabled lifecycle rule with an expiration (retention)", at(b.DefRange()), key)
		}
		if !m.bucketHas(name, "aws_s3_bucket_policy", m.checkBucketPolicy) {
			m.fail(defect, "%s: %s has no aws_s3_bucket_policy from an aws_iam_policy_document", at(b.DefRange()), key)
		}
	}
}

// bucketHas: a resource of typ on aws_s3_bucket.<bucket> satisfies ok.
func (m *module) bucketHas(bucket, typ string, ok func(*hclsyntax.Block) bool) bool {
	for _, c := range m.resources {
		if c.Labels[0] == typ && slices.Contains(refs(c.Body.Attributes["bucket"], "aws_s3_bucket"), bucket) && ok(c) {
			return true
		}
	}
	return false
}

// checkBucketPolicy: the policy's document allows nobody at large,
// scopes CloudFront to a distribution (AWS:SourceArn) and denies requests
// without TLS. It reports false when the document cannot be found.
func (m *module) checkBucketPolicy(p *hclsyntax.Block) bool {
	a := p.Body.Attributes["policy"]
	if a == nil {
		return false
	}
	var doc *hclsyntax.Block
	for _, t := range hclsyntax.Variables(a.Expr) {
		if t.RootName() == "data" && attrAt(t, 1) == "aws_iam_policy_document" {
			doc = m.data["aws_iam_policy_document."+attrAt(t, 2)]
		}
	}
	if doc == nil {
		return false
	}
	denyHTTP := false
	for st := range blocksOf(doc.Body, "statement") {
		deny := literalOr(st.Body.Attributes["effect"], "Allow") == "Deny"
		conditions := map[string]bool{}
		for c := range blocksOf(st.Body, "condition") {
			conditions[literalOr(c.Body.Attributes["variable"], "")] = true
		}
		denyHTTP = denyHTTP || deny && conditions["aws:SecureTransport"]
		for pr := range blocksOf(st.Body, "principals") {
			typ, ids := literalOr(pr.Body.Attributes["type"], ""), literalStrings(pr.Body.Attributes["identifiers"])
			switch {
			case !deny && (typ == "*" || slices.Contains(ids, "*")):
				m.fail(defect, "%s: %s allows anyone (principal *) into the bucket", at(st.DefRange()), doc.Labels[1])
			case !deny && typ == "Service" && slices.Contains(ids, "cloudfront.amazonaws.com") && !conditions["AWS:SourceArn"]:
				m.fail(defect, "%s: %s lets every CloudFront distribution read the bucket: add a condition on AWS:SourceArn", at(st.DefRange()), doc.Labels[1])
			}
		}
	}
	if !denyHTTP {
		m.fail(defect, "%s: %s does not deny requests without TLS (aws:SecureTransport false)", at(doc.DefRange()), doc.Labels[1])
	}
	return true
}
