#include "testing/receiver.h"

#include <snappy.h>

#include <httplib.h>
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "remote.pb.h"
#include "testing/serve.h"
#include "testing/subprocess.h"

namespace promsidecar::testing {
namespace {

std::string LabelKey(const prompb::TimeSeries& ts, std::string* name, std::string* error) {
  std::string key = "{";
  for (int i = 0; i < ts.labels_size(); ++i) {
    const auto& l = ts.labels(i);
    if (i > 0) {
      key += ", ";
      if (!(ts.labels(i - 1).name() < l.name())) *error = "labels not sorted/unique at " + l.name();
    }
    if (l.value().empty()) *error = "empty label value for " + l.name();
    if (l.name() == "__name__") *name = l.value();
    key += l.name() + "=\"" + l.value() + "\"";
  }
  return key + "}";
}

}  // namespace

CountingReceiver::CountingReceiver() {
  port_ = FreePort();
  Listen();
}

CountingReceiver::~CountingReceiver() {
  Down();
}

void CountingReceiver::Listen() {
  server_ = std::make_unique<httplib::Server>();
  server_->Post("/api/v1/write", [this](const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    std::string raw;
    std::vector<std::string> errors;
    std::map<std::string, std::string> headers;
    for (const auto& [k, v] : req.headers) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(), ::tolower);
      headers[lk] = v;
    }
    if (headers["content-encoding"] != "snappy") errors.push_back("Content-Encoding is not snappy");
    if (headers["content-type"] != "application/x-protobuf") errors.push_back("Content-Type is not protobuf");
    if (headers["x-prometheus-remote-write-version"] != "0.1.0")
      errors.push_back("missing remote write version");
    if (headers["user-agent"].empty()) errors.push_back("missing User-Agent");
    prompb::WriteRequest wr;
    if (!snappy::Uncompress(req.body.data(), req.body.size(), &raw) || !wr.ParseFromString(raw)) {
      errors.push_back("undecodable body");
    }
    int status = status_;
    std::function<int(const std::map<std::string, std::string>&)> authorize;
    {
      std::lock_guard<std::mutex> lock(mu_);
      authorize = authorize_;
    }
    if (authorize) {
      if (int verdict = authorize(headers); verdict < 200 || verdict >= 300) status = verdict;
    }
    std::lock_guard<std::mutex> lock(mu_);
    last_headers_ = headers;
    for (auto& e : errors) errors_.push_back(e);
    if (status >= 200 && status < 300) {
      for (const auto& ts : wr.timeseries()) {
        std::string name, error;
        std::string key = LabelKey(ts, &name, &error);
        if (!error.empty()) errors_.push_back(error);
        auto& v = series_[key];
        for (const auto& s : ts.samples()) v.push_back({s.timestamp(), s.value()});
      }
    }
    res.status = status;
    res.set_content(status == 200 ? "" : "test receiver answers " + std::to_string(status), "text/plain");
  });
  if (!server_->bind_to_port("127.0.0.1", port_)) throw std::runtime_error("receiver: cannot bind");
  thread_ = ServeInBackground(*server_);
}

void CountingReceiver::SetAuthorizer(
    std::function<int(const std::map<std::string, std::string>& headers)> authorize) {
  std::lock_guard<std::mutex> lock(mu_);
  authorize_ = std::move(authorize);
}

void CountingReceiver::Down() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void CountingReceiver::Up() {
  if (!server_) Listen();
}

std::map<std::string, std::vector<ReceivedSample>> CountingReceiver::Series() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_;
}

std::vector<ReceivedSample> CountingReceiver::SamplesOf(const std::string& metric_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ReceivedSample> out;
  std::string needle = "__name__=\"" + metric_name + "\"";
  for (const auto& [key, samples] : series_) {
    if (key.find(needle) != std::string::npos) out.insert(out.end(), samples.begin(), samples.end());
  }
  return out;
}

std::vector<double> CountingReceiver::ValuesOf(const std::string& metric_name) const {
  std::vector<double> out;
  for (const auto& s : SamplesOf(metric_name)) {
    if (!std::isnan(s.value)) out.push_back(s.value);
  }
  return out;
}

std::vector<std::string> CountingReceiver::ProtocolErrors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

std::map<std::string, std::string> CountingReceiver::LastHeaders() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_headers_;
}

MetricsTarget::MetricsTarget(std::vector<std::string> paths) {
  page_ = [](uint64_t n) { return CounterPage(n); };
  server_ = std::make_unique<httplib::Server>();
  for (const std::string& path : paths) {
    server_->Get(path, [this, path](const httplib::Request&, httplib::Response& res) {
      uint64_t n = ++scrapes_;
      std::function<std::string(uint64_t)> page;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = path_pages_.find(path);
        page = it != path_pages_.end() ? it->second : page_;
      }
      res.set_content(page(n), "text/plain; version=0.0.4");
    });
  }
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = ServeInBackground(*server_);
}

MetricsTarget::~MetricsTarget() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string MetricsTarget::CounterPage(uint64_t n, int extra_series, const std::string& extra_name) {
  std::string page = "# TYPE test_scrapes_total counter\ntest_scrapes_total " + std::to_string(n) + "\n";
  for (int i = 0; i < extra_series; ++i) {
    page += extra_name + "{i=\"" + std::to_string(i) + "\"} " + std::to_string(n) + "\n";
  }
  return page;
}

void MetricsTarget::SetPage(std::function<std::string(uint64_t)> page) {
  std::lock_guard<std::mutex> lock(mu_);
  page_ = std::move(page);
}

void MetricsTarget::SetPage(const std::string& path, std::function<std::string(uint64_t)> page) {
  std::lock_guard<std::mutex> lock(mu_);
  path_pages_[path] = std::move(page);
}

}  // namespace promsidecar::testing
