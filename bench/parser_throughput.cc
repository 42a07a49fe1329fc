// Our exposition parser's throughput on payload files, measured the same way
// as bench/goparser measures Prometheus's (same files, same loop shape: parse
// the whole page, touch every series' labels and value), so bench/run can put
// the two side by side.
//
//   parser_throughput --min-time=2 FILE:text FILE:openmetrics FILE:protobuf ...
// (protobuf: the delimited MetricFamily format, native histograms kept; a
// native histogram counts as one sample, as in Prometheus's scrape loop)
// prints one JSON object per line:
// {"file":..., "format":..., "bytes":..., "samples":..., "iterations":..., "seconds":...}.
// Exits 1 if a file does not parse.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/textparse/parser.h"
#include "agent/textparse/protoparse.h"

namespace {

using promsidecar::textparse::Entry;
using promsidecar::textparse::Format;
using promsidecar::textparse::Parser;

// Reads a parser to the end as the scrape loop does (values, labels, series
// bytes; native histograms where the format has them): the number of
// samples, or -1 with the error printed.
template <typename P>
long Consume(P& p, double* sink) {
  long samples = 0;
  size_t label_bytes = 0;
  double sum = 0;
  for (Entry e = p.Next(); e != Entry::kEof; e = p.Next()) {
    if (e == Entry::kInvalid) {
      std::fprintf(stderr, "parser_throughput: %s\n", p.error().message.c_str());
      return -1;
    }
    if (e == Entry::kSeries) {
      sum += p.value();
    } else if constexpr (requires { p.histogram(); }) {
      if (e != Entry::kHistogram) continue;
      sum += p.histogram().count() + static_cast<double>(p.histogram().bucket_count());
    } else {
      continue;
    }
    ++samples;
    for (const auto& l : p.labels()) label_bytes += l.name.size() + l.value.size();
    label_bytes += p.series().size();
  }
  *sink += sum + static_cast<double>(label_bytes);
  return samples;
}

long ParseOnce(const std::string& body, Format format, double* sink) {
  Parser p(body, format);
  return Consume(p, sink);
}

long ParseProtoOnce(const std::string& body, promsidecar::textparse::ProtoParser& p, double* sink) {
  p.Reset(body, {});
  return Consume(p, sink);
}

}  // namespace

int main(int argc, char** argv) {
  double min_time = 2.0;
  double sink = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(arg.c_str() + 11);
      continue;
    }
    size_t colon = arg.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr,
                   "parser_throughput: argument %s must be FILE:text, FILE:openmetrics or FILE:protobuf\n",
                   arg.c_str());
      return 2;
    }
    std::string file = arg.substr(0, colon), format_name = arg.substr(colon + 1);
    if (format_name != "text" && format_name != "openmetrics" && format_name != "protobuf") {
      std::fprintf(stderr, "parser_throughput: format %s of %s must be text, openmetrics or protobuf\n",
                   format_name.c_str(), file.c_str());
      return 2;
    }
    Format format = format_name == "text" ? Format::kPrometheusText : Format::kOpenMetrics;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "parser_throughput: cannot read %s\n", file.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    // One protobuf parser reused across iterations, as a scrape loop keeps its own.
    promsidecar::textparse::ProtoParser proto;
    auto parse = [&] {
      return format_name == "protobuf" ? ParseProtoOnce(body, proto, &sink) : ParseOnce(body, format, &sink);
    };
    long samples = parse();
    if (samples < 0) {
      std::fprintf(stderr, "parser_throughput: %s (%s) does not parse\n", file.c_str(), format_name.c_str());
      return 1;
    }
    long iterations = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (elapsed < min_time) {
      parse();
      ++iterations;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::printf(
        "{\"file\":\"%s\",\"format\":\"%s\",\"bytes\":%zu,\"samples\":%ld,\"iterations\":%ld,\"seconds\":%."
        "6f}\n",
        file.c_str(), format_name.c_str(), body.size(), samples, iterations, elapsed);
  }
  if (sink == 1e308) std::fprintf(stderr, "%f\n", sink);  // keeps the work observable
  return 0;
}
