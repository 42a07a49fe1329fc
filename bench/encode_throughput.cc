// Remote-write encoding throughput: realistic batches (series shaped like an
// instrumented service's, job/instance target labels, one sample each, as a
// sender batches them) through our hand-written encoder plus snappy, and,
// for reference in the same run, through the protoc-generated WriteRequest
// (SerializeToString) plus the same snappy call; and the same batches as
// remote write 2.0 (EncoderV2), for its bytes per sample.
//
//   encode_throughput --min-time=2 --batch=500
// prints one JSON object per line per encoder:
// {"encoder":..., "samples":..., "seconds":..., "proto_bytes":..., "wire_bytes":...}
// (bytes summed over every batch encoded).
#include <snappy.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "agent/model/labels.h"
#include "agent/remote_write/encoder.h"
#include "remote.pb.h"

namespace {

namespace model = promsidecar::model;

struct Totals {
  size_t samples = 0, proto_bytes = 0, wire_bytes = 0;
  double seconds = 0;
};

std::vector<model::Labels> MakeSeries(int n) {
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kCodes[] = {"200", "201", "404", "500", "503"};
  std::vector<model::Labels> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({{"__name__", "http_requests_total"},
                   {"code", kCodes[(i / 4) % 5]},
                   {"handler", "/api/v1/resource/" + std::to_string(i / 20)},
                   {"instance", "127.0.0.1:8080"},
                   {"job", "checkout"},
                   {"method", kMethods[i % 4]},
                   {"pod", "checkout-7d9f8b6c5d-x2x9k"}});
  }
  return out;
}

Totals Run(double min_time, const std::function<void(int64_t, Totals&)>& encode_batch) {
  Totals t;
  auto start = std::chrono::steady_clock::now();
  int64_t ts = 1'700'000'000'000;
  while (t.seconds < min_time) {
    for (int i = 0; i < 20; ++i) encode_batch(ts += 1000, t);
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return t;
}

void Print(const char* name, const Totals& t) {
  std::printf(
      "{\"encoder\":\"%s\",\"samples\":%zu,\"seconds\":%.6f,\"proto_bytes\":%zu,\"wire_bytes\":%zu}\n", name,
      t.samples, t.seconds, t.proto_bytes, t.wire_bytes);
}

}  // namespace

int main(int argc, char** argv) {
  double min_time = 2;
  int batch = 500;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--min-time=", 0) == 0) {
      min_time = std::atof(a.c_str() + 11);
    } else if (a.rfind("--batch=", 0) == 0) {
      batch = std::atoi(a.c_str() + 8);
    } else {
      std::fprintf(stderr, "encode_throughput: unknown argument %s (use --min-time=S --batch=N)\n",
                   a.c_str());
      return 2;
    }
  }
  if (batch < 1) {
    std::fprintf(stderr, "encode_throughput: --batch must be at least 1\n");
    return 2;
  }
  const auto series = MakeSeries(batch);

  promsidecar::remote_write::Encoder enc;
  Print("ours", Run(min_time, [&](int64_t ts, Totals& t) {
          enc.Begin();
          for (size_t i = 0; i < series.size(); ++i) {
            model::Sample s{ts, static_cast<double>(ts / 1000 % 100000) * 0.5 + static_cast<double>(i)};
            enc.AddSeries(series[i], std::span<const model::Sample>(&s, 1));
          }
          t.proto_bytes += enc.proto().size();
          t.wire_bytes += enc.Compress().size();
          t.samples += series.size();
        }));

  // Remote write 2.0: the same batches, strings interned per request, each
  // series with its family's metadata as metadata_config.send (the default)
  // sends it.
  model::Metadata metadata;
  metadata.type = model::MetricType::kCounter;
  metadata.help = "Total HTTP requests by code, handler and method.";
  metadata.family = "http_requests_total";
  promsidecar::remote_write::EncoderV2 enc2;
  Print("ours-v2", Run(min_time, [&](int64_t ts, Totals& t) {
          enc2.Begin();
          for (size_t i = 0; i < series.size(); ++i) {
            model::Sample s{ts, static_cast<double>(ts / 1000 % 100000) * 0.5 + static_cast<double>(i)};
            enc2.AddSeries(series[i], &metadata, std::span<const model::Sample>(&s, 1), {}, {});
          }
          t.wire_bytes += enc2.Compress().size();
          t.proto_bytes += enc2.proto().size();
          t.samples += series.size();
        }));

  std::string raw, compressed;
  Print("protoc", Run(min_time, [&](int64_t ts, Totals& t) {
          promsidecar::prompb::WriteRequest wr;
          for (size_t i = 0; i < series.size(); ++i) {
            auto* out = wr.add_timeseries();
            for (const auto& l : series[i]) {
              auto* pl = out->add_labels();
              pl->set_name(l.name);
              pl->set_value(l.value);
            }
            auto* s = out->add_samples();
            s->set_timestamp(ts);
            s->set_value(static_cast<double>(ts / 1000 % 100000) * 0.5 + static_cast<double>(i));
          }
          wr.SerializeToString(&raw);
          snappy::Compress(raw.data(), raw.size(), &compressed);
          t.proto_bytes += raw.size();
          t.wire_bytes += compressed.size();
          t.samples += series.size();
        }));
  return 0;
}
