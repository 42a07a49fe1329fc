#include "common/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace promsidecar::metrics {
namespace {

void AtomicAdd(std::atomic<double>& a, double by) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, double v, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  out += name;
  AppendLabels(out, names, values, extra_name, extra_value);
  out += ' ';
  out += FormatValue(v);
  out += '\n';
}

}  // namespace

void Counter::Add(double by) {
  if (by < 0) return;  // counters never go down
  AtomicAdd(value_, by);
}

void Gauge::Add(double by) {
  AtomicAdd(value_, by);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[i];
  ++count_;
  sum_ += v;
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t acc = 0;
  for (uint64_t c : counts_) {
    acc += c;
    s.cumulative.push_back(acc);
  }
  s.count = count_;
  s.sum = sum_;
  return s;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

Registry::Entry& Registry::Add(std::string name, std::string help, Type type) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) {
    if (e.name == name) throw std::logic_error("metric registered twice: " + name);
  }
  Entry& e = entries_.emplace_back();
  e.name = std::move(name);
  e.help = std::move(help);
  e.type = type;
  return e;
}

Counter& Registry::AddCounter(std::string name, std::string help) {
  return AddCounterFamily(std::move(name), std::move(help), {}).With({});
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  return AddGaugeFamily(std::move(name), std::move(help), {}).With({});
}

Histogram& Registry::AddHistogram(std::string name, std::string help, std::vector<double> bounds) {
  return AddHistogramFamily(std::move(name), std::move(help), {}, std::move(bounds)).With({});
}

Family<Counter>& Registry::AddCounterFamily(std::string name, std::string help,
                                            std::vector<std::string> labels) {
  Entry& e = Add(std::move(name), std::move(help), Type::kCounter);
  e.counters =
      std::make_unique<Family<Counter>>(std::move(labels), [] { return std::make_unique<Counter>(); });
  return *e.counters;
}

Family<Gauge>& Registry::AddGaugeFamily(std::string name, std::string help, std::vector<std::string> labels) {
  Entry& e = Add(std::move(name), std::move(help), Type::kGauge);
  e.gauges = std::make_unique<Family<Gauge>>(std::move(labels), [] { return std::make_unique<Gauge>(); });
  return *e.gauges;
}

Family<Histogram>& Registry::AddHistogramFamily(std::string name, std::string help,
                                                std::vector<std::string> labels, std::vector<double> bounds) {
  Entry& e = Add(std::move(name), std::move(help), Type::kHistogram);
  e.histograms = std::make_unique<Family<Histogram>>(
      std::move(labels), [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  return *e.histograms;
}

void Registry::AddCallbackGauge(std::string name, std::string help, std::function<double()> fn) {
  Entry& e = Add(std::move(name), std::move(help), Type::kGauge);
  e.callback = std::move(fn);
}

void Registry::AddCollector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c();
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    out += "# HELP ";
    out += e.name;
    out += ' ';
    AppendHelp(out, e.help);
    out += "\n# TYPE ";
    out += e.name;
    out += e.type == Type::kCounter ? " counter\n" : e.type == Type::kGauge ? " gauge\n" : " histogram\n";
    if (e.callback) {
      AppendSample(out, e.name, {}, {}, e.callback());
    } else if (e.counters) {
      e.counters->ForEach([&](const auto& values, const Counter& c) {
        AppendSample(out, e.name, e.counters->label_names(), values, c.Value());
      });
    } else if (e.gauges) {
      e.gauges->ForEach([&](const auto& values, const Gauge& g) {
        AppendSample(out, e.name, e.gauges->label_names(), values, g.Value());
      });
    } else if (e.histograms) {
      const auto& names = e.histograms->label_names();
      e.histograms->ForEach([&](const auto& values, const Histogram& h) {
        Histogram::Snapshot s = h.Snap();
        for (size_t i = 0; i < s.bounds.size(); ++i) {
          AppendSample(out, e.name + "_bucket", names, values, static_cast<double>(s.cumulative[i]), "le",
                       FormatValue(s.bounds[i]));
        }
        AppendSample(out, e.name + "_bucket", names, values, static_cast<double>(s.count), "le", "+Inf");
        AppendSample(out, e.name + "_sum", names, values, s.sum);
        AppendSample(out, e.name + "_count", names, values, static_cast<double>(s.count));
      });
    }
  }
  return out;
}

}  // namespace promsidecar::metrics
