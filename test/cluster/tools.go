//go:build tools

// Package tools pins the control-plane programs that the test harness builds
// from the Go module proxy: kube-apiserver and kubectl from k8s.io/kubernetes,
// etcd from go.etcd.io/etcd/server/v3. `go build` these import paths from this
// module; `go install pkg@version` is refused because of the staging replaces.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
