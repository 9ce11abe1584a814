package nomad_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/cli"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// subcommandFlags are the real flag sets of the ezlive subcommands.
var subcommandFlags = cli.FlagNames()

// taskEnv is what the job files may set in a task's environment.
var taskEnv = []string{"EZLIVE_REDIS_ADDR", "EZLIVE_ORIGIN_URL", "EZLIVE_SQS_QUEUE_URL", "NOMAD_ADDR"}

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
	for _, want := range []string{"client.hcl", "server.hcl", "ezlive-api.nomad.hcl", "ezlive-scheduler.nomad.hcl", "ezlive-origin.nomad.hcl"} {
		if !slices.Contains(files, want) {
			t.Errorf("missing %s", want)
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

// TestJobFilesUseRealFlags checks each control-plane job: a service running
// `ezlive <subcommand>` with only that subcommand's flags, and health checks
// on /healthz at the port its -listen flag is given.
func TestJobFilesUseRealFlags(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"ezlive-api.nomad.hcl": "api", "ezlive-scheduler.nomad.hcl": "scheduler", "ezlive-origin.nomad.hcl": "origin",
	}
	for name, sub := range want {
		job := block(t, parseHCL(t, name), "job")
		if literal(t, job.Body.Attributes["type"]) != cty.StringVal("service") {
			t.Errorf("%s: job type should be service", name)
		}
		for _, group := range blocks(job.Body, "group") {
			for _, task := range blocks(group.Body, "task") {
				cmd, flags := taskArgs(t, task)
				if cmd != sub {
					t.Errorf("%s: task %s runs %q, want %q", name, task.Labels[0], cmd, sub)
				}
				for flag := range flags {
					if !slices.Contains(subcommandFlags[sub], flag) {
						t.Errorf("%s: ezlive %s has no flag -%s", name, sub, flag)
					}
				}
				checkListenPort(t, name, group, flags["listen"])
				for _, env := range blocks(task.Body, "env") {
					for key := range env.Body.Attributes {
						if !slices.Contains(taskEnv, key) {
							t.Errorf("%s: env %s is not read by ezlive", name, key)
						}
					}
				}
			}
		}
	}
}

// taskArgs returns the subcommand and the flags (name → value expression).
func taskArgs(t *testing.T, task *hclsyntax.Block) (string, map[string]hclsyntax.Expression) {
	t.Helper()
	cfg := block(t, task.Body, "config")
	args, ok := cfg.Body.Attributes["args"].Expr.(*hclsyntax.TupleConsExpr)
	if !ok || len(args.Exprs) == 0 {
		t.Fatalf("task %s: config.args must be a list", task.Labels[0])
	}
	sub, _ := literalString(args.Exprs[0])
	flags := map[string]hclsyntax.Expression{}
	rest := args.Exprs[1:]
	for i := 0; i < len(rest); i += 2 {
		name, ok := literalString(rest[i])
		if !ok || !strings.HasPrefix(name, "-") || i+1 == len(rest) {
			t.Errorf("task %s: argument %d should be a -flag followed by its value", task.Labels[0], i+1)
			continue
		}
		flags[strings.TrimLeft(name, "-")] = rest[i+1]
	}
	return sub, flags
}

// checkListenPort matches -listen "${NOMAD_ADDR_<label>}" with the group's
// port and its service's /healthz check.
func checkListenPort(t *testing.T, file string, group *hclsyntax.Block, listen hclsyntax.Expression) {
	t.Helper()
	services := blocks(group.Body, "service")
	if listen == nil {
		if len(services) > 0 {
			t.Errorf("%s: a service without a -listen flag", file)
		}
		return
	}
	vars := listen.Variables()
	if len(vars) != 1 || !strings.HasPrefix(vars[0].RootName(), "NOMAD_ADDR_") {
		t.Fatalf("%s: -listen should be \"${NOMAD_ADDR_<port>}\"", file)
	}
	label := strings.TrimPrefix(vars[0].RootName(), "NOMAD_ADDR_")
	var ports []string
	for _, nw := range blocks(group.Body, "network") {
		for _, p := range blocks(nw.Body, "port") {
			ports = append(ports, p.Labels[0])
		}
	}
	if !slices.Contains(ports, label) {
		t.Errorf("%s: -listen uses port %q, the group has %v", file, label, ports)
	}
	if len(services) == 0 {
		t.Errorf("%s: a listening task needs a service with a health check", file)
	}
	for _, svc := range services {
		if literal(t, svc.Body.Attributes["port"]) != cty.StringVal(label) {
			t.Errorf("%s: service port should be %q", file, label)
		}
		check := block(t, svc.Body, "check")
		if literal(t, check.Body.Attributes["type"]) != cty.StringVal("http") ||
			literal(t, check.Body.Attributes["path"]) != cty.StringVal("/healthz") {
			t.Errorf("%s: service check should be http on /healthz", file)
		}
	}
}

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

func literalString(e hclsyntax.Expression) (string, bool) {
	if len(e.Variables()) > 0 {
		return "", false
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}
