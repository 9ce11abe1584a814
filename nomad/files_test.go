package nomad_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ezlivestreaming/ezlive/internal/cli"
	"github.com/ezlivestreaming/ezlive/nomad"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The operator's files (the README tells how to run them) checked for what
// an operator found wrong on a real cluster: health checks that did not
// check, values that could not be chosen without editing, variable defaults
// that overrode the node's settings, no drain, placement, and a missing ACL
// policy. `nomad job validate` on a real agent is the other half (README).

// jobFiles are the platform's job files: the subcommand each runs and its type.
var jobFiles = []struct{ file, sub, typ string }{
	{"ezlive-api.nomad.hcl", "api", "service"},
	{"ezlive-scheduler.nomad.hcl", "scheduler", "service"},
	{"ezlive-origin.nomad.hcl", "origin", "service"},
	{"ezlive-ingest.nomad.hcl", "ingest", "system"},
}

// subcommandFlags are the real flag sets of the ezlive subcommands.
var subcommandFlags = cli.FlagNames()

// shutdownBudget is what a task needs between SIGTERM and SIGKILL at ezlive's
// defaults: -drain (5s) and the graceful shutdown after it (5s).
const shutdownBudget = 10 * time.Second

func parseHCL(t *testing.T, name string) *hclsyntax.Body {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile(name)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", name, diags)
	}
	return f.Body.(*hclsyntax.Body)
}

func TestOperatorFilesParse(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("*.hcl")
	want := []string{"client.hcl", "server.hcl", "scheduler-policy.hcl"}
	for _, j := range jobFiles {
		want = append(want, j.file)
	}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("missing %s", w)
		}
	}
	for _, name := range files {
		parseHCL(t, name)
	}
}

func TestClientConfigRunsTranscoders(t *testing.T) {
	t.Parallel()
	body := parseHCL(t, "client.hcl")
	client := block(t, body, "client")
	if v := literal(t, client.Body.Attributes["node_pool"]); v != cty.StringVal(pool) {
		t.Errorf("client node_pool = %#v, want %q (the scheduler's default)", v, pool)
	}
	if client.Body.Attributes["node_class"] == nil || len(blocks(client.Body, "meta")) == 0 {
		t.Error("client needs a node_class and meta")
	}
	var rawExec bool
	for _, p := range blocks(body, "plugin") {
		if len(p.Labels) == 1 && p.Labels[0] == "raw_exec" {
			cfg := block(t, p.Body, "config")
			rawExec = literal(t, cfg.Body.Attributes["enabled"]) == cty.True
		}
	}
	if !rawExec {
		t.Error("plugin \"raw_exec\" { config { enabled = true } } missing")
	}
	server := block(t, parseHCL(t, "server.hcl"), "server")
	if literal(t, server.Body.Attributes["enabled"]) != cty.True {
		t.Error("server.hcl: server must be enabled")
	}
}

// jobFile is one parsed job file.
type jobFile struct {
	name string
	body *hclsyntax.Body
	job  *hclsyntax.Block
}

// eachJobFile runs fn on every job file, in parallel subtests.
func eachJobFile(t *testing.T, fn func(t *testing.T, f jobFile, sub, typ string)) {
	for _, j := range jobFiles {
		t.Run(j.file, func(t *testing.T) {
			t.Parallel()
			body := parseHCL(t, j.file)
			fn(t, jobFile{name: j.file, body: body, job: block(t, body, "job")}, j.sub, j.typ)
		})
	}
}

// eachTask calls fn for every task of every group.
func (f jobFile) eachTask(fn func(group, task *hclsyntax.Block)) {
	for _, g := range blocks(f.job.Body, "group") {
		for _, task := range blocks(g.Body, "task") {
			fn(g, task)
		}
	}
}

// TestJobFilesUseRealFlags: each job runs `ezlive <subcommand>` with only
// that subcommand's flags, and its args carry no operator setting: args win
// over the environment, so a setting there would override the node's. Only
// Nomad's ${NOMAD_ADDR_<port>} may be interpolated.
func TestJobFilesUseRealFlags(t *testing.T) {
	t.Parallel()
	eachJobFile(t, func(t *testing.T, f jobFile, sub, typ string) {
		if literal(t, f.job.Body.Attributes["type"]) != cty.StringVal(typ) {
			t.Errorf("job type should be %s", typ)
		}
		if id := f.job.Labels[0]; strings.HasPrefix(id, nomad.JobPrefix) {
			t.Errorf("job %s: the scheduler's Nomad driver owns the %s* jobs, and would stop this one", id, nomad.JobPrefix)
		}
		f.eachTask(func(group, task *hclsyntax.Block) {
			cmd, flags := taskArgs(t, task)
			if cmd != sub {
				t.Errorf("task %s runs %q, want %q", task.Labels[0], cmd, sub)
			}
			for flag, value := range flags {
				if !slices.Contains(subcommandFlags[sub], flag) {
					t.Errorf("ezlive %s has no flag -%s", sub, flag)
				}
				for _, v := range value.Variables() {
					if !strings.HasPrefix(v.RootName(), "NOMAD_ADDR_") {
						t.Errorf("-%s takes %s: settings go in the environment (local.settings), not args", flag, v.RootName())
					}
				}
			}
			if len(blocks(task.Body, "env")) > 0 {
				t.Errorf("task %s has an env block: settings go in local.settings, where an empty one is left out", task.Labels[0])
			}
		})
	})
}

// TestJobFilesCheckReadiness: every service is checked over HTTP on
// /readyz (which checks the dependencies), on a port a -listen or
// -health-listen flag serves, so no check probes a port that is not HTTP.
func TestJobFilesCheckReadiness(t *testing.T) {
	t.Parallel()
	eachJobFile(t, func(t *testing.T, f jobFile, _, _ string) {
		f.eachTask(func(group, task *hclsyntax.Block) {
			_, flags := taskArgs(t, task)
			httpPorts := map[string]bool{}
			for flag, value := range flags {
				if strings.HasSuffix(flag, "listen") {
					httpPorts[portLabel(t, group, flag, value)] = true
				}
			}
			services := blocks(group.Body, "service")
			if len(services) == 0 {
				t.Errorf("group %s has no service to check", group.Labels[0])
			}
			for _, svc := range services {
				port := literalString(t, svc.Body.Attributes["port"])
				checks := blocks(svc.Body, "check")
				if len(checks) == 0 {
					t.Errorf("service %s has no check", port)
				}
				for _, c := range checks {
					if p := c.Body.Attributes["port"]; p != nil {
						port = literalString(t, p)
					}
					if literalString(t, c.Body.Attributes["type"]) != "http" || literalString(t, c.Body.Attributes["path"]) != "/readyz" {
						t.Errorf("service check should be http on /readyz")
					}
					if !httpPorts[port] || port == "rtmp" {
						t.Errorf("check on port %q, which no -listen/-health-listen serves over HTTP", port)
					}
				}
			}
		})
	})
}

// TestJobFilesStopGracefully: Nomad deregisters the service before SIGTERM
// (shutdown_delay), and lets ezlive drain and shut down before SIGKILL.
func TestJobFilesStopGracefully(t *testing.T) {
	t.Parallel()
	eachJobFile(t, func(t *testing.T, f jobFile, _, _ string) {
		f.eachTask(func(group, task *hclsyntax.Block) {
			if d := duration(t, group.Body.Attributes["shutdown_delay"]); d <= 0 {
				t.Errorf("group %s has no shutdown_delay", group.Labels[0])
			}
			if literalString(t, task.Body.Attributes["kill_signal"]) != "SIGTERM" {
				t.Errorf("task %s: kill_signal should be SIGTERM, which starts the drain", task.Labels[0])
			}
			if d := duration(t, task.Body.Attributes["kill_timeout"]); d < shutdownBudget+5*time.Second {
				t.Errorf("task %s: kill_timeout %v leaves no room for -drain and a graceful shutdown (%v)", task.Labels[0], d, shutdownBudget)
			}
		})
	})
}

// TestJobSettingsLeaveTheNodeInCharge: the settings template writes
// EZLIVE_* variables ezlive reads, only those whose job variable is set; at
// the defaults it writes none (the scheduler: only NOMAD_ADDR, the Task API
// socket), so the node's environment decides.
func TestJobSettingsLeaveTheNodeInCharge(t *testing.T) {
	t.Parallel()
	known := cli.EnvNames()
	eachJobFile(t, func(t *testing.T, f jobFile, _, _ string) {
		settings := f.settingsKeys(t)
		for _, k := range settings {
			if !known[k] {
				t.Errorf("local.settings sets %s, which ezlive does not read", k)
			}
		}
		f.eachTask(func(_, task *hclsyntax.Block) {
			tmpl := f.settingsTemplate(t, task)
			atDefaults := envLines(f.render(t, tmpl, nil))
			for _, line := range atDefaults {
				if !strings.HasPrefix(line, "NOMAD_ADDR=unix://") {
					t.Errorf("at the defaults the task's environment gets %s, overriding the node's", line)
				}
			}
			set := map[string]cty.Value{}
			for name, v := range f.variables(t) {
				if v.Type() == cty.String {
					set[name] = cty.StringVal("x y")
				}
			}
			rendered := f.render(t, tmpl, set)
			for _, k := range settings {
				if !strings.Contains(rendered, k+`="x y"`) {
					t.Errorf("with every variable set, %s is not written (quoted) in:\n%s", k, rendered)
				}
			}
		})
	})
}

// TestSecretsComeFromNomadVariables: each task turns the items of its job's
// Nomad Variable into its environment, through a template, so that tokens
// and passwords never appear in the job specification.
func TestSecretsComeFromNomadVariables(t *testing.T) {
	t.Parallel()
	eachJobFile(t, func(t *testing.T, f jobFile, _, _ string) {
		want := fmt.Sprintf("nomadVar %q", "nomad/jobs/"+f.job.Labels[0])
		f.eachTask(func(_, task *hclsyntax.Block) {
			found := false
			for _, tmpl := range blocks(task.Body, "template") {
				data, ok := literalValue(tmpl.Body.Attributes["data"])
				if ok && strings.Contains(data.AsString(), want) && isTrue(tmpl.Body.Attributes["env"]) &&
					strings.HasPrefix(literalString(t, tmpl.Body.Attributes["destination"]), "secrets/") {
					found = true
				}
			}
			if !found {
				t.Errorf("task %s has no env template in secrets/ reading %s", task.Labels[0], want)
			}
		})
	})
	if id := block(t, block(t, block(t, block(t, parseHCL(t, "ezlive-scheduler.nomad.hcl"), "job").Body, "group").Body, "task").Body, "identity"); !isTrue(id.Body.Attributes["env"]) {
		t.Error("the scheduler needs identity { env = true }: NOMAD_TOKEN for the Task API")
	}
}

// TestJobFilesLetOperatorsChoose: what differs between clusters is a
// variable, not a literal: node pool and class, static ports, instances;
// and instances of one group never share a node.
func TestJobFilesLetOperatorsChoose(t *testing.T) {
	t.Parallel()
	eachJobFile(t, func(t *testing.T, f jobFile, _, typ string) {
		vars := f.variables(t)
		fromVar := func(what string, e hclsyntax.Expression) {
			refs := e.Variables()
			if len(refs) == 0 || refs[0].RootName() != "var" {
				t.Errorf("%s is a literal; make it a variable", what)
				return
			}
			if _, ok := vars[attrName(refs[0])]; !ok {
				t.Errorf("%s uses undeclared var.%s", what, attrName(refs[0]))
			}
		}
		fromVar("node_pool", f.job.Body.Attributes["node_pool"].Expr)
		hclsyntax.VisitAll(f.job.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			switch b := n.(type) {
			case *hclsyntax.Block:
				if b.Type == "port" && b.Body.Attributes["static"] != nil {
					fromVar("static port "+b.Labels[0], b.Body.Attributes["static"].Expr)
				}
				if b.Type == "constraint" && b.Body.Attributes["attribute"] != nil && refersToNodeClass(b.Body.Attributes["attribute"].Expr) {
					t.Errorf("a fixed node class constraint; use dynamic \"constraint\" over var.node_class")
				}
				if b.Type == "dynamic" && b.Labels[0] == "constraint" {
					fromVar("the node class constraint", b.Body.Attributes["for_each"].Expr)
				}
			}
			return nil
		})
		if typ != "service" {
			return
		}
		for _, g := range blocks(f.job.Body, "group") {
			count := g.Body.Attributes["count"]
			if v, ok := literalValue(count); ok && v.Equals(cty.NumberIntVal(1)).True() {
				continue // a single instance, on purpose (the origin)
			}
			fromVar("count", count.Expr)
			if !f.hasDistinctHosts() {
				t.Errorf("group %s runs several instances without constraint { distinct_hosts = true }", g.Labels[0])
			}
		}
	})
}

// TestSchedulerPolicy: the ACL policy the README applies to the scheduler's
// workload identity grants exactly what the driver does: submit, read and
// list jobs (allocations and evaluations are read-job), read nodes; the
// Job/Allocation event topics need read-job and Node needs node read.
func TestSchedulerPolicy(t *testing.T) {
	t.Parallel()
	body := parseHCL(t, "scheduler-policy.hcl")
	if len(body.Attributes) > 0 || len(body.Blocks) != 2 {
		t.Errorf("policy has %d attributes and %d blocks, want only namespace and node", len(body.Attributes), len(body.Blocks))
	}
	ns := block(t, body, "namespace")
	if len(ns.Labels) != 1 || ns.Labels[0] != "default" {
		t.Errorf("namespace %v, want \"default\"", ns.Labels)
	}
	caps := literal(t, ns.Body.Attributes["capabilities"])
	var got []string
	for _, c := range caps.AsValueSlice() {
		got = append(got, c.AsString())
	}
	slices.Sort(got)
	if want := []string{"list-jobs", "read-job", "submit-job"}; !slices.Equal(got, want) {
		t.Errorf("namespace capabilities %v, want exactly %v", got, want)
	}
	if len(ns.Body.Attributes) != 1 || len(ns.Body.Blocks) != 0 {
		t.Error("namespace grants more than capabilities")
	}
	node := block(t, body, "node")
	if literalString(t, node.Body.Attributes["policy"]) != "read" {
		t.Error("node policy should be read")
	}
	readme, err := os.ReadFile("ezlive-scheduler.nomad.hcl")
	if err != nil || !strings.Contains(string(readme), "acl policy apply -namespace default -job ezlive_scheduler") {
		t.Error("ezlive-scheduler.nomad.hcl does not tell how to attach the policy to its workload identity")
	}
}

// --- reading job files ---

// variables are the file's variable defaults (null where none).
func (f jobFile) variables(t *testing.T) map[string]cty.Value {
	t.Helper()
	out := map[string]cty.Value{}
	for _, v := range blocks(f.body, "variable") {
		out[v.Labels[0]] = cty.NullVal(cty.DynamicPseudoType)
		if d, ok := literalValue(v.Body.Attributes["default"]); ok {
			out[v.Labels[0]] = d
		} else if v.Body.Attributes["default"] != nil {
			t.Errorf("variable %s: default is not a literal", v.Labels[0])
		}
	}
	return out
}

// settingsKeys are the keys of local.settings, the environment the job's
// variables may set.
func (f jobFile) settingsKeys(t *testing.T) []string {
	t.Helper()
	a := f.local(t, "settings")
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("local.settings is not an object")
	}
	var keys []string
	for _, item := range obj.Items {
		keys = append(keys, hcl.ExprAsKeyword(item.KeyExpr))
	}
	return keys
}

func (f jobFile) local(t *testing.T, name string) *hclsyntax.Attribute {
	t.Helper()
	for _, l := range blocks(f.body, "locals") {
		if a := l.Body.Attributes[name]; a != nil {
			return a
		}
	}
	t.Fatalf("local.%s is not declared", name)
	return nil
}

// settingsTemplate is the task's env template that reads local.settings.
func (f jobFile) settingsTemplate(t *testing.T, task *hclsyntax.Block) *hclsyntax.Attribute {
	t.Helper()
	for _, tmpl := range blocks(task.Body, "template") {
		data := tmpl.Body.Attributes["data"]
		if data != nil && isTrue(tmpl.Body.Attributes["env"]) && slices.ContainsFunc(data.Expr.Variables(), func(v hcl.Traversal) bool {
			return v.RootName() == "local" && attrName(v) == "settings"
		}) {
			return data
		}
	}
	t.Fatalf("task %s has no env template over local.settings", task.Labels[0])
	return nil
}

// render evaluates the template's data with the variables at their
// defaults, except those in set.
func (f jobFile) render(t *testing.T, data *hclsyntax.Attribute, set map[string]cty.Value) string {
	t.Helper()
	vars := f.variables(t)
	for k, v := range set {
		vars[k] = v
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc, "jsonencode": stdlib.JSONEncodeFunc},
	}
	locals := map[string]cty.Value{}
	for _, l := range blocks(f.body, "locals") {
		for name, a := range l.Body.Attributes {
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %v", name, diags)
			}
			locals[name] = v
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	v, diags := data.Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("template data: %v", diags)
	}
	return v.AsString()
}

// envLines are the KEY=value lines of a rendered env template.
func envLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func (f jobFile) hasDistinctHosts() bool {
	for _, c := range blocks(f.job.Body, "constraint") {
		if isTrue(c.Body.Attributes["distinct_hosts"]) {
			return true
		}
	}
	return false
}

func refersToNodeClass(e hclsyntax.Expression) bool {
	return slices.ContainsFunc(e.Variables(), func(v hcl.Traversal) bool {
		return v.RootName() == "node" && attrName(v) == "class"
	})
}

// taskArgs returns the subcommand and the flags (name → value expression).
func taskArgs(t *testing.T, task *hclsyntax.Block) (string, map[string]hclsyntax.Expression) {
	t.Helper()
	cfg := block(t, task.Body, "config")
	args, ok := cfg.Body.Attributes["args"].Expr.(*hclsyntax.TupleConsExpr)
	if !ok || len(args.Exprs) == 0 {
		t.Fatalf("task %s: config.args must be a list", task.Labels[0])
	}
	sub, _ := stringOf(args.Exprs[0])
	flags := map[string]hclsyntax.Expression{}
	rest := args.Exprs[1:]
	for i := 0; i < len(rest); i += 2 {
		name, ok := stringOf(rest[i])
		if !ok || !strings.HasPrefix(name, "-") || i+1 == len(rest) {
			t.Errorf("task %s: argument %d should be a -flag followed by its value", task.Labels[0], i+1)
			continue
		}
		flags[strings.TrimLeft(name, "-")] = rest[i+1]
	}
	return sub, flags
}

// portLabel is the group port a listen flag's "${NOMAD_ADDR_<label>}" names.
func portLabel(t *testing.T, group *hclsyntax.Block, flag string, value hclsyntax.Expression) string {
	t.Helper()
	vars := value.Variables()
	if len(vars) != 1 || !strings.HasPrefix(vars[0].RootName(), "NOMAD_ADDR_") {
		t.Fatalf("-%s should be \"${NOMAD_ADDR_<port>}\"", flag)
	}
	label := strings.TrimPrefix(vars[0].RootName(), "NOMAD_ADDR_")
	var ports []string
	for _, nw := range blocks(group.Body, "network") {
		for _, p := range blocks(nw.Body, "port") {
			ports = append(ports, p.Labels[0])
		}
	}
	if !slices.Contains(ports, label) {
		t.Errorf("-%s uses port %q, the group has %v", flag, label, ports)
	}
	return label
}

// --- HCL helpers ---

func blocks(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func block(t *testing.T, body *hclsyntax.Body, typ string) *hclsyntax.Block {
	t.Helper()
	bs := blocks(body, typ)
	if len(bs) != 1 {
		t.Fatalf("want one %s block, found %d", typ, len(bs))
	}
	return bs[0]
}

func literal(t *testing.T, attr *hclsyntax.Attribute) cty.Value {
	t.Helper()
	if attr == nil {
		return cty.NilVal
	}
	v, diags := attr.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatalf("%s: not a literal: %v", attr.Name, diags)
	}
	return v
}

func literalValue(attr *hclsyntax.Attribute) (cty.Value, bool) {
	if attr == nil || len(attr.Expr.Variables()) > 0 {
		return cty.NilVal, false
	}
	v, diags := attr.Expr.Value(nil)
	return v, !diags.HasErrors()
}

// literalString is the attribute's string value, "" when absent.
func literalString(t *testing.T, attr *hclsyntax.Attribute) string {
	t.Helper()
	if attr == nil {
		return ""
	}
	s, ok := stringOf(attr.Expr)
	if !ok {
		t.Fatalf("%s: not a literal string", attr.Name)
	}
	return s
}

func stringOf(e hclsyntax.Expression) (string, bool) {
	if len(e.Variables()) > 0 {
		return "", false
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func isTrue(attr *hclsyntax.Attribute) bool {
	v, ok := literalValue(attr)
	return ok && v.Type() == cty.Bool && v.True()
}

func duration(t *testing.T, attr *hclsyntax.Attribute) time.Duration {
	t.Helper()
	s := literalString(t, attr)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", attr.Name, err)
	}
	return d
}

func attrName(t hcl.Traversal) string {
	if len(t) > 1 {
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}
