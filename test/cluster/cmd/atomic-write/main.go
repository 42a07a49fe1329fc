// atomic-write publishes a set of files into a directory exactly as the
// kubelet updates a Secret, ConfigMap or downwardAPI volume: through
// k8s.io/kubernetes/pkg/volume/util.AtomicWriter (a new timestamped
// directory, the `..data_tmp` symlink renamed over `..data`, user-visible
// symlinks, the old directory removed; nothing is written when the payload is
// unchanged). The reload tests drive the agent's file watcher with it.
//
// Usage: atomic-write -dir DIR [JSON]
// JSON (an argument, else stdin) maps relative file paths to contents:
//
//	{"config.yaml": "global: {}\n", "annotations": "a=\"b\""}
//
// Files left out of a payload are removed, as the kubelet does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

func main() {
	dir := flag.String("dir", "", "target directory (must exist)")
	flag.Parse()
	if *dir == "" || flag.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: atomic-write -dir DIR [JSON]")
		os.Exit(2)
	}
	var raw []byte
	if flag.NArg() == 1 {
		raw = []byte(flag.Arg(0))
	} else {
		var err error
		if raw, err = io.ReadAll(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "atomic-write: reading stdin:", err)
			os.Exit(1)
		}
	}
	var files map[string]string
	if err := json.Unmarshal(raw, &files); err != nil {
		fmt.Fprintln(os.Stderr, "atomic-write: payload is not a JSON object of strings:", err)
		os.Exit(1)
	}
	payload := make(map[string]volumeutil.FileProjection, len(files))
	for path, content := range files {
		payload[path] = volumeutil.FileProjection{Data: []byte(content), Mode: 0o644}
	}
	writer, err := volumeutil.NewAtomicWriter(*dir, "atomic-write")
	if err != nil {
		fmt.Fprintln(os.Stderr, "atomic-write:", err)
		os.Exit(1)
	}
	if err := writer.Write(payload, nil); err != nil {
		fmt.Fprintln(os.Stderr, "atomic-write:", err)
		os.Exit(1)
	}
}
