// The protobuf page the native-histogram end-to-end tests scrape: scrape n
// exposes a counter with an exemplar (`jobs_total`, value n), a gauge with a
// unit (`temperature_celsius`), and a native histogram
// (`rpc_duration_seconds`, schema 3, 2n observations of 1.0 and n of 4.0,
// with an exemplar), each family with help text.
#pragma once

#include <string>

#include "../textparse/proto_page.h"

namespace promsidecar::testing {

inline std::string NativePage(uint64_t n, int64_t now_ms) {
  client::MetricFamily jobs;
  jobs.set_name("jobs_total");
  jobs.set_help("Jobs processed.");
  jobs.set_type(client::COUNTER);
  auto* c = jobs.add_metric()->mutable_counter();
  c->set_value(static_cast<double>(n));
  auto* ex = c->mutable_exemplar();
  auto* el = ex->add_label();
  el->set_name("trace_id");
  el->set_value("trace-" + std::to_string(n));
  ex->set_value(1);
  SetTimestamp(ex->mutable_timestamp(), now_ms);

  client::MetricFamily temp;
  temp.set_name("temperature_celsius");
  temp.set_help("Room temperature.");
  temp.set_unit("celsius");
  temp.set_type(client::GAUGE);
  temp.add_metric()->mutable_gauge()->set_value(21.5);

  client::MetricFamily rpc;
  rpc.set_name("rpc_duration_seconds");
  rpc.set_help("RPC latency.");
  rpc.set_type(client::HISTOGRAM);
  auto* h = rpc.add_metric()->mutable_histogram();
  h->set_schema(3);
  h->set_zero_threshold(1e-128);
  h->set_sample_count(3 * n);
  h->set_sample_sum(static_cast<double>(2 * n) * 1.0 + static_cast<double>(n) * 4.0);
  // Schema 3: bucket i covers (2^((i-1)/8), 2^(i/8)]; 1.0 is bucket 0, 4.0 bucket 16.
  auto* s0 = h->add_positive_span();
  s0->set_offset(0);
  s0->set_length(1);
  auto* s1 = h->add_positive_span();
  s1->set_offset(15);
  s1->set_length(1);
  h->add_positive_delta(static_cast<int64_t>(2 * n));
  h->add_positive_delta(-static_cast<int64_t>(n));  // n in bucket 16
  auto* hx = h->add_exemplars();
  auto* hl = hx->add_label();
  hl->set_name("trace_id");
  hl->set_value("rpc-" + std::to_string(n));
  hx->set_value(4.0);
  SetTimestamp(hx->mutable_timestamp(), now_ms);
  return DelimitedPage({jobs, temp, rpc});
}

}  // namespace promsidecar::testing
