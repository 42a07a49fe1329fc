// Builds delimited-protobuf exposition pages for tests and benchmarks, with
// the protoc-generated io.prometheus.client messages (proto/metrics.proto):
// an encoder independent of the agent's hand-written parser.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "metrics.pb.h"

namespace promsidecar::testing {

namespace client = ::io::prometheus::client;

// The families, each as varint length + MetricFamily bytes.
inline std::string DelimitedPage(std::initializer_list<client::MetricFamily> families) {
  std::string out;
  for (const auto& f : families) {
    std::string bytes = f.SerializeAsString();
    {
      google::protobuf::io::StringOutputStream stream(&out);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
    }
    out += bytes;
  }
  return out;
}

inline void AddLabels(client::Metric* m, std::initializer_list<std::pair<const char*, const char*>> labels) {
  for (const auto& [name, value] : labels) {
    auto* l = m->add_label();
    l->set_name(name);
    l->set_value(value);
  }
}

inline void SetTimestamp(google::protobuf::Timestamp* ts, int64_t ms) {
  ts->set_seconds(ms / 1000);
  ts->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

}  // namespace promsidecar::testing
