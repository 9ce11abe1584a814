#!/usr/bin/env bash
# Static checks of terraform/ that need no AWS account:
#   1. tflint with its built-in Terraform ruleset (.tflint.hcl), always;
#   2. terraform validate + terraform test (tests/*.tftest.hcl, mocked AWS
#      provider) when terraform and a local mirror of hashicorp/aws exist
#      (TF_PLUGIN_DIR, default /opt/tf-plugins); skipped otherwise, since the
#      provider cannot be downloaded here.
# Runs in a temporary copy so .terraform/ and the lock file never land in the repo.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
tflint=${TFLINT:-$repo/bin/tflint}
plugin_dir=${TF_PLUGIN_DIR:-/opt/tf-plugins}

if [[ ! -x $tflint ]]; then
  GOBIN="$repo/bin" go install github.com/terraform-linters/tflint@v0.64.0
fi
"$tflint" --chdir "$here"
echo "tflint: ok"

if ! command -v terraform >/dev/null || [[ ! -d $plugin_dir/registry.terraform.io/hashicorp/aws ]]; then
  echo "terraform validate/test: skipped (no terraform binary or no hashicorp/aws mirror in $plugin_dir)"
  exit 0
fi
for f in server.hcl client.hcl; do
  if [[ ! -f $repo/nomad/$f ]]; then
    echo "terraform validate/test: skipped (nomad/$f not written yet)"
    exit 0
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/terraform" "$work/nomad"
cp -r "$here"/*.tf "$here/templates" "$here/tests" "$work/terraform/"
cp "$repo"/nomad/*.hcl "$work/nomad/"
cd "$work/terraform"
export TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1
terraform init -backend=false -input=false -no-color -plugin-dir="$plugin_dir" >init.log || { cat init.log; exit 1; }
terraform validate -no-color
terraform test -no-color
