//go:build tools

// Package tools pins the programs that scripts/build-control-plane builds
// from the Go module proxy: the control plane, the kubelet, kube-proxy and
// kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, crictl
// from sigs.k8s.io/cri-tools. `go build` these import paths from this module;
// `go install pkg@version` is refused because of the staging replaces.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
