// Command podrunner plays the kubelet's part for tests: it registers a fake
// node and runs the pods bound to it as local processes (see
// docs/podrunner.md).
//
//	podrunner --kubeconfig K --node-name N --image-map FILE --state-dir D
//	          [--pod-cidr 10.213.0.0/24] [--bridge psr0] [--kubelet-version v1.34.4]
//	          [--restart-backoff 10s] [--max-restart-backoff 5m] [--publish-root-ca CA]
//	podrunner exec-container SPEC   (internal: becomes one container process)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/promsidecar/promsidecar/test/cluster/podrunner"
)

func init() {
	// exec-container joins a network namespace with setns, which acts on
	// the calling thread only: keep main on the thread that will execve.
	runtime.LockOSThread()
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == podrunner.ExecContainerCommand {
		err := podrunner.ExecContainer(os.Args[2])
		fmt.Fprintf(os.Stderr, "podrunner exec-container: %v\n", err)
		os.Exit(128)
	}
	runtime.UnlockOSThread()
	var cfg podrunner.Config
	fs := flag.NewFlagSet("podrunner", flag.ExitOnError)
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the control plane (default $KUBECONFIG)")
	fs.StringVar(&cfg.NodeName, "node-name", "", "name of the fake node whose pods (spec.nodeName) this runner runs (required)")
	fs.StringVar(&cfg.ImageMapFile, "image-map", "", "YAML or JSON file mapping images to local binaries (required)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "directory for volumes, container specs and logs (required)")
	fs.StringVar(&cfg.PodCIDR, "pod-cidr", "10.213.0.0/24", "host-only pod subnet; its first address goes on the bridge and is every pod's hostIP")
	fs.StringVar(&cfg.Bridge, "bridge", "psr0", "bridge interface joining the pod network namespaces to the host")
	fs.StringVar(&cfg.KubeletVersion, "kubelet-version", "v1.34.4", "kubelet version the Node object reports")
	fs.DurationVar(&cfg.RestartBackoff, "restart-backoff", 0, "first crash-loop back-off step (default 10s, as the kubelet)")
	fs.DurationVar(&cfg.MaxRestartBackoff, "max-restart-backoff", 0, "crash-loop back-off cap (default 5m, as the kubelet)")
	fs.StringVar(&cfg.RootCAFile, "publish-root-ca", "", "CA file to publish as ConfigMap kube-root-ca.crt in the namespaces of its pods (the controller-manager's job; the API server's token volume needs it)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "podrunner: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "podrunner: --log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "podrunner: cannot find its own binary: %v\n", err)
		os.Exit(1)
	}
	cfg.Self = self
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := podrunner.Run(ctx, cfg, log); err != nil {
		log.Error("podrunner failed", "err", err)
		os.Exit(1)
	}
}
