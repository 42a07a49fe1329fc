// A remote-write receiver for the agent's end-to-end tests that speaks both
// 1.0 and 2.0 (decoded with the protoc-generated code of proto/), records
// every request in one shape, and can be told to refuse 2.0 (415), to answer
// 2.0 without the Written headers (a 1.0 receiver that ignores Content-Type),
// or to fail with a status. Plus a target that serves a delimited-protobuf
// page. Header-only: test/testing's receiver is shared with other suites.
#pragma once

#include <httplib.h>
#include <snappy.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/model/histogram.h"
#include "remote.pb.h"
#include "testing/serve.h"
#include "write_v2.pb.h"

namespace promsidecar::testing {

struct ReceivedSeries {
  model::Labels labels;
  std::vector<model::Sample> samples;
  std::vector<model::HistogramSample> histograms;
  std::vector<model::Exemplar> exemplars;
  std::optional<model::Metadata> metadata;  // 2.0: the series' metadata
};

struct ReceivedRequest {
  bool v2 = false;
  std::string content_type, version, encoding, user_agent;
  std::vector<ReceivedSeries> series;
  std::vector<model::Metadata> metadata;  // 1.0: WriteRequest.metadata (family in .family)
  std::vector<std::string> symbols;       // 2.0
  // 2.0: what the spec forbids in the request's structure (odd or
  // out-of-range references, a TimeSeries with both samples and histograms).
  std::vector<std::string> problems;
  int status = 0;     // what we answered
  std::string error;  // why it did not decode, if it did not
};

class RwReceiver {
 public:
  enum class V2Mode { kAccept, kRefuse415, kAcceptWithoutWrittenHeaders };
  // How to answer the request numbered `index` (0-based, in arrival order):
  // status 0 is the normal answer; the delay comes first.
  struct Answer {
    int status = 0;
    std::chrono::milliseconds delay{0};
  };

  RwReceiver() {
    server_.Post("/write", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = testing::ServeInBackground(server_);
  }
  ~RwReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/write"; }
  void SetV2Mode(V2Mode m) { v2_mode_ = m; }
  void SetStatus(int status) { status_ = status; }  // 0: success
  // Set before the agent starts.
  void SetPolicy(std::function<Answer(size_t index)> policy) { policy_ = std::move(policy); }
  std::vector<ReceivedRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Every received series whose labels include name=value for all of `want`.
  std::vector<ReceivedSeries> Series(const std::map<std::string, std::string>& want) {
    std::vector<ReceivedSeries> out;
    for (const auto& r : Requests()) {
      for (const auto& s : r.series) {
        bool all = true;
        for (const auto& [k, v] : want) all = all && model::Get(s.labels, k) == v;
        if (all) out.push_back(s);
      }
    }
    return out;
  }

 private:
  static model::Labels FromV1(const google::protobuf::RepeatedPtrField<prompb::Label>& labels) {
    model::Labels out;
    for (const auto& l : labels) out.push_back({l.name(), l.value()});
    return out;
  }
  template <typename H>
  static model::HistogramSample Histogram(const H& p) {
    model::HistogramSample hs;
    hs.timestamp_ms = p.timestamp();
    auto& h = hs.histogram;
    h.is_float = p.has_count_float();
    h.count_int = p.count_int();
    h.count_float = p.count_float();
    h.zero_count_int = p.zero_count_int();
    h.zero_count_float = p.zero_count_float();
    h.sum = p.sum();
    h.schema = p.schema();
    h.zero_threshold = p.zero_threshold();
    h.reset_hint = static_cast<model::ResetHint>(p.reset_hint());
    for (const auto& s : p.positive_spans()) h.positive_spans.push_back({s.offset(), s.length()});
    for (const auto& s : p.negative_spans()) h.negative_spans.push_back({s.offset(), s.length()});
    h.positive_deltas.assign(p.positive_deltas().begin(), p.positive_deltas().end());
    h.negative_deltas.assign(p.negative_deltas().begin(), p.negative_deltas().end());
    h.positive_counts.assign(p.positive_counts().begin(), p.positive_counts().end());
    h.negative_counts.assign(p.negative_counts().begin(), p.negative_counts().end());
    h.custom_values.assign(p.custom_values().begin(), p.custom_values().end());
    return hs;
  }

  void Decode(const std::string& raw, ReceivedRequest& r) {
    if (r.v2) {
      io::prometheus::write::v2::Request req;
      if (!req.ParseFromString(raw)) {
        r.error = "not a v2 Request";
        return;
      }
      r.symbols.assign(req.symbols().begin(), req.symbols().end());
      auto sym = [&](uint32_t i) {
        if (i < r.symbols.size()) return r.symbols[i];
        r.problems.push_back("reference " + std::to_string(i) + " beyond the symbols");
        return std::string("<bad ref>");
      };
      for (const auto& ts : req.timeseries()) {
        if (ts.labels_refs_size() % 2 != 0) r.problems.push_back("odd labels_refs");
        if (ts.samples_size() > 0 && ts.histograms_size() > 0) {
          r.problems.push_back("a TimeSeries with both samples and histograms");
        }
        for (const auto& e : ts.exemplars()) {
          if (e.labels_refs_size() % 2 != 0) r.problems.push_back("odd exemplar labels_refs");
        }
        ReceivedSeries s;
        for (int i = 0; i + 1 < ts.labels_refs_size(); i += 2) {
          s.labels.push_back({sym(ts.labels_refs(i)), sym(ts.labels_refs(i + 1))});
        }
        for (const auto& p : ts.samples()) s.samples.push_back({p.timestamp(), p.value()});
        for (const auto& h : ts.histograms()) s.histograms.push_back(Histogram(h));
        for (const auto& e : ts.exemplars()) {
          model::Exemplar ex{{}, e.value(), e.timestamp(), true};
          for (int i = 0; i + 1 < e.labels_refs_size(); i += 2) {
            ex.labels.push_back({sym(e.labels_refs(i)), sym(e.labels_refs(i + 1))});
          }
          s.exemplars.push_back(ex);
        }
        if (ts.has_metadata()) {
          s.metadata = model::Metadata{static_cast<model::MetricType>(ts.metadata().type()),
                                       sym(ts.metadata().help_ref()), sym(ts.metadata().unit_ref()), ""};
        }
        r.series.push_back(std::move(s));
      }
      return;
    }
    prompb::WriteRequest req;
    if (!req.ParseFromString(raw)) {
      r.error = "not a v1 WriteRequest";
      return;
    }
    for (const auto& ts : req.timeseries()) {
      ReceivedSeries s;
      s.labels = FromV1(ts.labels());
      for (const auto& p : ts.samples()) s.samples.push_back({p.timestamp(), p.value()});
      for (const auto& h : ts.histograms()) s.histograms.push_back(Histogram(h));
      for (const auto& e : ts.exemplars())
        s.exemplars.push_back({FromV1(e.labels()), e.value(), e.timestamp(), true});
      r.series.push_back(std::move(s));
    }
    for (const auto& m : req.metadata()) {
      r.metadata.push_back(
          {static_cast<model::MetricType>(m.type()), m.help(), m.unit(), m.metric_family_name()});
    }
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    Answer answer;
    if (policy_) answer = policy_(next_index_++);
    if (answer.delay.count() > 0) std::this_thread::sleep_for(answer.delay);
    ReceivedRequest r;
    r.content_type = req.get_header_value("Content-Type");
    r.version = req.get_header_value("X-Prometheus-Remote-Write-Version");
    r.encoding = req.get_header_value("Content-Encoding");
    r.user_agent = req.get_header_value("User-Agent");
    r.v2 = r.content_type.find("proto=io.prometheus.write.v2.Request") != std::string::npos;
    if (r.v2 && v2_mode_ == V2Mode::kRefuse415) {
      r.status = res.status = 415;
      res.set_content("remote write 2.0 is not supported here", "text/plain");
    } else {
      std::string raw;
      if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw)) {
        r.error = "not snappy";
      } else if (r.v2 && v2_mode_ == V2Mode::kAcceptWithoutWrittenHeaders) {
        // A 1.0 receiver: decodes the body as a 1.0 request (empty) and says OK.
        r.v2 = false;
        Decode(raw, r);
      } else {
        Decode(raw, r);
      }
      r.status = answer.status != 0    ? answer.status
                 : status_.load() != 0 ? status_.load()
                                       : (r.error.empty() ? 204 : 400);
      res.status = r.status;
      if (r.v2 && v2_mode_ == V2Mode::kAccept && r.status == 204) {
        size_t samples = 0, histograms = 0, exemplars = 0;
        for (const auto& s : r.series) {
          samples += s.samples.size();
          histograms += s.histograms.size();
          exemplars += s.exemplars.size();
        }
        res.set_header("X-Prometheus-Remote-Write-Samples-Written", std::to_string(samples));
        res.set_header("X-Prometheus-Remote-Write-Histograms-Written", std::to_string(histograms));
        res.set_header("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(exemplars));
      }
    }
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(r));
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<V2Mode> v2_mode_{V2Mode::kAccept};
  std::atomic<int> status_{0};
  std::function<Answer(size_t)> policy_;
  std::atomic<size_t> next_index_{0};
  std::mutex mu_;
  std::vector<ReceivedRequest> requests_;
};

// Serves `page(n)` (n = 1-based scrape number) at /metrics with the
// delimited-protobuf Content-Type, or a text page when asked for one.
class ProtoTarget {
 public:
  explicit ProtoTarget(std::function<std::string(uint64_t)> page,
                       std::string content_type =
                           "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                           "encoding=delimited")
      : page_(std::move(page)), content_type_(std::move(content_type)) {
    server_.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        accept_ = req.get_header_value("Accept");
      }
      res.set_content(page_(++scrapes_), content_type_.c_str());
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = testing::ServeInBackground(server_);
  }
  ~ProtoTarget() {
    server_.stop();
    thread_.join();
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint64_t scrapes() const { return scrapes_; }
  std::string last_accept() const {
    std::lock_guard lock(mu_);
    return accept_;
  }

 private:
  std::function<std::string(uint64_t)> page_;
  std::string content_type_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<uint64_t> scrapes_{0};
  mutable std::mutex mu_;
  std::string accept_;
};

}  // namespace promsidecar::testing
