//go:build tools

// Package tools pins a Prometheus 3.x promtool for the render tests:
// `promtool check config --agent` on every rendered 3.x golden file.
// scripts/build-promtool3 builds it with `go build` from this module.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
