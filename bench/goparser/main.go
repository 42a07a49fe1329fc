// Command goparser times Prometheus's own exposition parsers (model/textparse)
// on payload files, so bench/run can compare them with ours in the same run.
//
//	goparser -min-time=2s FILE:text FILE:openmetrics FILE:protobuf ...
//	goparser -to-protobuf TEXT_FILE:OUT ...      (text page to delimited protobuf, with expfmt)
//	goparser -native-page=OUT -native-series=N   (a page of N native histograms)
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
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	switch format {
	case "openmetrics":
		p = textparse.NewOpenMetricsParser(body, st)
	case "protobuf":
		// Native histograms kept, classic ones not duplicated: Prometheus 3's
		// scrape with scrape_native_histograms on.
		p = textparse.NewProtobufParser(body, false, false, false, false, st)
	default:
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
		if e == textparse.EntryHistogram {
			_, _, h, fh := p.Histogram()
			if h != nil {
				sum += float64(h.Count)
			} else if fh != nil {
				sum += fh.Count
			}
			p.Labels(&lset)
			labelCount += lset.Len()
			samples++
			continue
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

// toProtobuf rewrites a text-format page as delimited protobuf MetricFamily
// messages (families in name order), as client_golang would serve it.
func toProtobuf(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, n := range names {
		if err := enc.Encode(families[n]); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// nativePage writes n native histograms of one family (schema 3, a zero
// bucket and 24 populated buckets in two spans, as a latency histogram of a
// busy service has), labelled like an instrumented HTTP handler.
func nativePage(out string, n int) error {
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	codes := []string{"200", "201", "404", "500"}
	name, help := "http_request_duration_seconds", "HTTP request latency."
	typ := dto.MetricType_HISTOGRAM
	fam := &dto.MetricFamily{Name: &name, Help: &help, Type: &typ}
	for i := 0; i < n; i++ {
		lp := func(k, v string) *dto.LabelPair { return &dto.LabelPair{Name: &k, Value: &v} }
		schema, zt := int32(3), 1e-4
		var count, zero uint64 = 0, uint64(i % 7)
		sum := 0.0
		spans := []*dto.BucketSpan{{Offset: ptr(int32(-40)), Length: ptr(uint32(16))},
			{Offset: ptr(int32(4)), Length: ptr(uint32(8))}}
		var deltas []int64
		prev := int64(0)
		for b := 0; b < 24; b++ {
			c := int64(100 + (i*31+b*17)%900)
			deltas = append(deltas, c-prev)
			prev = c
			count += uint64(c)
			sum += float64(c) * 0.01 * float64(b+1)
		}
		count += zero
		h := &dto.Histogram{SampleCount: &count, SampleSum: &sum, Schema: &schema, ZeroThreshold: &zt,
			ZeroCount: &zero, PositiveSpan: spans, PositiveDelta: deltas}
		fam.Metric = append(fam.Metric, &dto.Metric{
			Label: []*dto.LabelPair{lp("code", codes[(i/4)%4]), lp("handler", fmt.Sprintf("/api/v1/resource/%d", i/16)),
				lp("method", methods[i%4])},
			Histogram: h,
		})
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeProtoDelim)).Encode(fam); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func ptr[T any](v T) *T { return &v }

func main() {
	minTime := flag.Duration("min-time", 2*time.Second, "minimum time spent on each file")
	convert := flag.Bool("to-protobuf", false, "convert each TEXT_FILE:OUT argument to delimited protobuf and exit")
	native := flag.String("native-page", "", "write a page of native histograms to this file and exit")
	nativeSeries := flag.Int("native-series", 1000, "native histograms on the -native-page page")
	flag.Parse()
	if *native != "" {
		if err := nativePage(*native, *nativeSeries); err != nil {
			fmt.Fprintf(os.Stderr, "goparser: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *convert {
		for _, arg := range flag.Args() {
			i := strings.LastIndex(arg, ":")
			if i < 0 {
				fmt.Fprintf(os.Stderr, "goparser: argument %q must be TEXT_FILE:OUT\n", arg)
				os.Exit(2)
			}
			if err := toProtobuf(arg[:i], arg[i+1:]); err != nil {
				fmt.Fprintf(os.Stderr, "goparser: %v\n", err)
				os.Exit(1)
			}
		}
		return
	}
	enc := json.NewEncoder(os.Stdout)
	for _, arg := range flag.Args() {
		i := strings.LastIndex(arg, ":")
		if i < 0 {
			fmt.Fprintf(os.Stderr, "goparser: argument %q must be FILE:text, FILE:openmetrics or FILE:protobuf\n", arg)
			os.Exit(2)
		}
		file, format := arg[:i], arg[i+1:]
		if format != "text" && format != "openmetrics" && format != "protobuf" {
			fmt.Fprintf(os.Stderr, "goparser: format %q of %s must be text, openmetrics or protobuf\n", format, file)
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
