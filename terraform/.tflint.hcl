# tflint with only the built-in Terraform ruleset: the AWS plugin cannot be
# downloaded here. Run: tflint --chdir terraform
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
