// gen-downward-fixtures writes, for every input map DIR/NAME.json, the file a
// downwardAPI volume would hold for it: OUT/NAME.formatmap, produced by the
// kubelet's own k8s.io/kubernetes/pkg/fieldpath.FormatMap. The C++ parser's
// fixture test compares its parse of each output with the input map, and the
// ctest podinfo.fixtures-current regenerates them to catch drift.
//
// Input format (JSON cannot carry invalid UTF-8, so raw bytes go in base64):
//
//	{"values": {"key": "text value", ...}, "base64_values": {"key": "/w==", ...}}
//
// A key may appear in only one of the two objects.
//
// Usage: gen-downward-fixtures -in DIR [-out DIR]   (out defaults to in)
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/kubernetes/pkg/fieldpath"
)

type input struct {
	Values       map[string]string `json:"values"`
	Base64Values map[string]string `json:"base64_values"`
}

func load(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var in input
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := map[string]string{}
	for k, v := range in.Values {
		m[k] = v
	}
	for k, v := range in.Base64Values {
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s: key %q is in both values and base64_values", path, k)
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: base64_values[%q]: %w", path, k, err)
		}
		m[k] = string(b)
	}
	return m, nil
}

func main() {
	in := flag.String("in", "", "directory of NAME.json input maps")
	out := flag.String("out", "", "directory for NAME.formatmap outputs (default: -in)")
	flag.Parse()
	if *in == "" {
		fmt.Fprintln(os.Stderr, "usage: gen-downward-fixtures -in DIR [-out DIR]")
		os.Exit(2)
	}
	if *out == "" {
		*out = *in
	}
	inputs, err := filepath.Glob(filepath.Join(*in, "*.json"))
	if err != nil || len(inputs) == 0 {
		fmt.Fprintf(os.Stderr, "gen-downward-fixtures: no *.json inputs in %s\n", *in)
		os.Exit(1)
	}
	sort.Strings(inputs)
	for _, path := range inputs {
		m, err := load(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen-downward-fixtures:", err)
			os.Exit(1)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json") + ".formatmap"
		if err := os.WriteFile(filepath.Join(*out, name), []byte(fieldpath.FormatMap(m)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen-downward-fixtures:", err)
			os.Exit(1)
		}
	}
}
