package terraform_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/cli"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The settings file user data writes on every node is read by ezlive as
// environment fallbacks of its flags: every EZLIVE_ name in it must be one
// the binary reads, or the setting is silently ignored.
func TestNodeSettingsUseRealVariables(t *testing.T) {
	known := cli.EnvNames()
	for _, name := range nodeSettings(t) {
		if !known[name] {
			t.Errorf("%s is set on nodes but no ezlive flag reads it", name)
		}
	}
}

// transcoderSettings are what a transcoder needs from its worker node, since
// the scheduler's Nomad driver passes no Redis or origin in its arguments:
// the fallbacks of `ezlive transcoder`'s -redis, -redis-password,
// -redis-tls and -origin.
var transcoderSettings = []string{"EZLIVE_REDIS_ADDR", "EZLIVE_REDIS_PASSWORD", "EZLIVE_REDIS_TLS", "EZLIVE_ORIGIN_URL"}

// TestWorkersPassSettingsToTranscoders: the node settings hold what a
// transcoder needs, and the Nomad client agent loads them (raw_exec tasks
// inherit its environment). No node carries an origin admin token: the
// origin removes a deleted job's outputs itself.
func TestWorkersPassSettingsToTranscoders(t *testing.T) {
	names := nodeSettings(t)
	for _, want := range append(transcoderSettings, "EZLIVE_API_DRAIN", "EZLIVE_ORIGIN_DRAIN", "EZLIVE_INGEST_DRAIN") {
		if !slices.Contains(names, want) {
			t.Errorf("node settings lack %s", want)
		}
	}
	if slices.Contains(names, "EZLIVE_ORIGIN_ADMIN_TOKEN") {
		t.Error("node settings carry EZLIVE_ORIGIN_ADMIN_TOKEN")
	}
	body := clientTemplate(t)
	dropIn := regexp.MustCompile(`(?s)/etc/systemd/system/nomad\.service\.d/[a-z-]+\.conf <<'?(\w+)'?\n\[Service\]\nEnvironmentFile=/etc/ezlive/ezlive\.env\n(\w+)\n`)
	if m := dropIn.FindStringSubmatch(body); m == nil || m[1] != m[2] {
		t.Error("user data does not load /etc/ezlive/ezlive.env into the Nomad agent (a nomad.service drop-in with EnvironmentFile=)")
	}
	if !strings.Contains(body, "systemctl daemon-reload") {
		t.Error("user data writes a systemd drop-in without systemctl daemon-reload")
	}
}

func clientTemplate(t *testing.T) string {
	t.Helper()
	body, err := os.ReadFile("templates/nomad-client.sh.tftpl")
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestNodeSettingsGiveNomadClientsTLS: a process on a client node that
// calls Nomad's HTTPS API (a scheduler given -var nomad_addr=https://...,
// the nomad CLI) finds the agent's CA, certificate and key where
// nomad/tls.hcl puts them, in the variables Nomad's API client reads.
func TestNodeSettingsGiveNomadClientsTLS(t *testing.T) {
	tls := tlsFiles(t)
	settings := nodeSettingValues(t)
	for env, attr := range map[string]string{"NOMAD_CACERT": "ca_file", "NOMAD_CLIENT_CERT": "cert_file", "NOMAD_CLIENT_KEY": "key_file"} {
		if got := settings[env]; got != tls[attr] {
			t.Errorf("node settings set %s=%q; nomad/tls.hcl's %s is %q", env, got, attr, tls[attr])
		}
	}
}

// tlsFiles are the file attributes of nomad/tls.hcl's tls block.
func tlsFiles(t *testing.T) map[string]string {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCLFile("../nomad/tls.hcl")
	if diags.HasErrors() {
		t.Fatalf("parse nomad/tls.hcl: %s", diags.Error())
	}
	tls := firstBlock(f.Body.(*hclsyntax.Body), "tls")
	if tls == nil {
		t.Fatal("nomad/tls.hcl has no tls block")
	}
	out := map[string]string{}
	for _, attr := range tlsFileAttrs {
		out[attr] = literalOr(tls.Body.Attributes[attr], "")
	}
	return out
}

// nodeSettings are the EZLIVE_ names set in the template's /etc/ezlive/ezlive.env.
func nodeSettings(t *testing.T) []string {
	t.Helper()
	var names []string
	for name := range nodeSettingValues(t) {
		if strings.HasPrefix(name, "EZLIVE_") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no EZLIVE_ settings found in the template")
	}
	slices.Sort(names)
	return names
}

// nodeSettingValues are the KEY=VALUE lines of the template's
// /etc/ezlive/ezlive.env (values as written in the template).
func nodeSettingValues(t *testing.T) map[string]string {
	t.Helper()
	m := regexp.MustCompile(`(?s)cat >/etc/ezlive/ezlive\.env <<(\w+)\n(.*?)\n(\w+)\n`).FindStringSubmatch(clientTemplate(t))
	if m == nil || m[1] != m[3] {
		t.Fatal("no heredoc writing /etc/ezlive/ezlive.env in the template")
	}
	values := map[string]string{}
	for _, line := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=(.*)$`).FindAllStringSubmatch(m[2], -1) {
		values[line[1]] = line[2]
	}
	return values
}
