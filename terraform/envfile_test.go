package terraform_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/ezlivestreaming/ezlive/internal/cli"
)

// The settings file user data writes on every node is read by ezlive as
// environment fallbacks of its flags: every EZLIVE_ name in it must be one
// the binary reads, or the setting is silently ignored.
func TestNodeSettingsUseRealVariables(t *testing.T) {
	body, err := os.ReadFile("templates/nomad-client.sh.tftpl")
	if err != nil {
		t.Fatal(err)
	}
	known := cli.EnvNames()
	names := regexp.MustCompile(`(?m)^(EZLIVE_[A-Z0-9_]+)=`).FindAllStringSubmatch(string(body), -1)
	if len(names) == 0 {
		t.Fatal("no EZLIVE_ settings found in the template")
	}
	for _, m := range names {
		if !known[m[1]] {
			t.Errorf("%s is set on nodes but no ezlive flag reads it", m[1])
		}
	}
}
