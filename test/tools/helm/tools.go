//go:build tools

// Package tools pins the Helm 3 release that the deploy tests use
// (`helm lint`, `helm template` of deploy/helm/promsidecar).
// scripts/build-helm builds it with `go build` from this module.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
