# Nomad TLS of every agent, servers and clients alike, loaded beside
# server.hcl or client.hcl: nomad agent -config server.hcl -config tls.hcl
# (terraform/ writes it as /etc/nomad.d/20-tls.hcl).
#
# Mutual TLS between all agents (RPC) and on the HTTP API. Every agent
# presents the cluster CA's certificate for its role: server.<region>.nomad
# for servers, client.<region>.nomad for clients (`nomad tls ca create`,
# `nomad tls cert create -server` / `-client`; terraform/ writes these files
# from SSM at boot). verify_server_hostname: a client's certificate cannot
# pose as a server. The HTTP API does not ask callers for a certificate
# (verify_https_client, the default): ACL tokens guard it, and load
# balancers' health checks carry none.
tls {
  http = true
  rpc  = true

  ca_file   = "/etc/nomad.d/tls/ca.pem"
  cert_file = "/etc/nomad.d/tls/agent.pem"
  key_file  = "/etc/nomad.d/tls/agent-key.pem"

  verify_server_hostname = true
  verify_https_client    = false
}
