// Command goparser times Prometheus's own exposition parsers (model/textparse)
// on payload files, so bench/run can compare them with ours in the same run.
//
//	goparser -min-time=2s FILE:text FILE:openmetrics ...
//
// For each file it parses the whole page repeatedly for at least -min-time,
// materialising every series' labels as Prometheus's scrape loop does on a
// cache miss, and prints one JSON object per line:
// {"file":..., "format":..., "bytes":..., "samples":..., "iterations":..., "seconds":...}.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

type result struct {
	File       string  `json:"file"`
	Format     string  `json:"format"`
	Bytes      int     `json:"bytes"`
	Samples    int     `json:"samples"`
	Iterations int     `json:"iterations"`
	Seconds    float64 `json:"seconds"`
}

// parseOnce parses the page and returns the number of float samples.
func parseOnce(body []byte, format string, st *labels.SymbolTable) (int, error) {
	var p textparse.Parser
	if format == "openmetrics" {
		p = textparse.NewOpenMetricsParser(body, st)
	} else {
		p = textparse.NewPromParser(body, st, false)
	}
	var lset labels.Labels
	samples, labelCount := 0, 0
	sum := 0.0
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		p.Labels(&lset)
		labelCount += lset.Len()
		sum += v
		samples++
	}
	if labelCount < 0 || sum == 1e308 { // keep the work observable
		fmt.Fprintln(os.Stderr, labelCount, sum)
	}
	return samples, nil
}

func main() {
	minTime := flag.Duration("min-time", 2*time.Second, "minimum time spent on each file")
	flag.Parse()
	enc := json.NewEncoder(os.Stdout)
	for _, arg := range flag.Args() {
		i := strings.LastIndex(arg, ":")
		if i < 0 {
			fmt.Fprintf(os.Stderr, "goparser: argument %q must be FILE:text or FILE:openmetrics\n", arg)
			os.Exit(2)
		}
		file, format := arg[:i], arg[i+1:]
		if format != "text" && format != "openmetrics" {
			fmt.Fprintf(os.Stderr, "goparser: format %q of %s must be text or openmetrics\n", format, file)
			os.Exit(2)
		}
		body, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goparser: %v\n", err)
			os.Exit(1)
		}
		st := labels.NewSymbolTable()
		samples, err := parseOnce(body, format, st)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goparser: %s (%s) does not parse: %v\n", file, format, err)
			os.Exit(1)
		}
		iterations := 0
		start := time.Now()
		for time.Since(start) < *minTime {
			if _, err := parseOnce(body, format, st); err != nil {
				fmt.Fprintf(os.Stderr, "goparser: %v\n", err)
				os.Exit(1)
			}
			iterations++
		}
		elapsed := time.Since(start).Seconds()
		if err := enc.Encode(result{file, format, len(body), samples, iterations, elapsed}); err != nil {
			os.Exit(1)
		}
	}
}
