//go:build tools

// Package tools pins a Prometheus 3.x release for the tests: promtool for the
// render tests (`promtool check config --agent` on every rendered 3.x golden
// file) and prometheus as the remote-write 2.0 receiver of the agent's
// integration tests. scripts/build-prometheus3 builds them with `go build`
// from this module.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
