// A small metrics registry for our own /metrics endpoints (agent and
// operator), rendered in the Prometheus text format 0.0.4.
//
// Thread-safety: every method of Registry, Family and the metric types is
// safe to call from any thread. Metric objects live as long as the registry;
// references returned by Family::With() stay valid.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace promsidecar::metrics {

class Counter {
 public:
  void Inc(double by = 1) { Add(by); }
  void Add(double by);
  // Mirrors a monotonic total that another component keeps (e.g. a sender's
  // samples sent), refreshed by a collector before rendering.
  void SetTotal(double total) { value_.store(total, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Snap() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

// A metric family: one name, a fixed list of label names, one child per
// label-value tuple.
template <typename M>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<M>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  M& With(const std::vector<std::string>& label_values) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = children_[label_values];
    if (!slot) slot = make_();
    return *slot;
  }
  // Drops a child (e.g. a target that went away), so /metrics stays bounded.
  void Remove(const std::vector<std::string>& label_values) {
    std::lock_guard<std::mutex> lock(mu_);
    children_.erase(label_values);
  }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, m] : children_) fn(values, *m);
  }

 private:
  std::vector<std::string> label_names_;
  std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

class Registry {
 public:
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> bounds);
  Family<Counter>& AddCounterFamily(std::string name, std::string help, std::vector<std::string> labels);
  Family<Gauge>& AddGaugeFamily(std::string name, std::string help, std::vector<std::string> labels);
  Family<Histogram>& AddHistogramFamily(std::string name, std::string help, std::vector<std::string> labels,
                                        std::vector<double> bounds);
  // A gauge computed when /metrics is read (e.g. WAL bytes on disk).
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> fn);

  // Runs before every Render(): refreshes metrics mirrored from components.
  void AddCollector(std::function<void()> collect);

  // The text exposition format 0.0.4, families in registration order.
  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    Type type;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
    std::function<double()> callback;
  };
  Entry& Add(std::string name, std::string help, Type type);

  mutable std::mutex mu_;
  std::deque<Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// Formats a double as Prometheus does in the text format (NaN, +Inf, -Inf,
// shortest round-trip representation otherwise).
std::string FormatValue(double v);

}  // namespace promsidecar::metrics
