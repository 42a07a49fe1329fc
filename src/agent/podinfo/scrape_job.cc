#include "agent/podinfo/scrape_job.h"

#include <algorithm>
#include <charconv>

#include "common/util/port_ref.h"
#include "common/util/units.h"

namespace promsidecar::podinfo {
namespace {

using Annotations = std::map<std::string, std::string>;

// Kubernetes' generated suffixes use this alphabet (no vowels, no 0/1/3).
bool IsSafeAlnum(char c) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  return kAlphabet.find(c) != std::string_view::npos;
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

bool IsDigitChar(char c) {
  return c >= '0' && c <= '9';
}

std::string Shorten(const std::string& v) {
  constexpr size_t kMax = 64;
  return v.size() <= kMax ? v : v.substr(0, kMax) + "...";
}

struct Lookup {
  const Annotations& a;
  bool legacy;
  // Our key first; the legacy key when enabled and ours is absent.
  // Returns the annotation that was used (for messages).
  const std::string* Find(std::string_view key, bool has_legacy, std::string* used) const {
    std::string ours = std::string(kPrefix) + std::string(key);
    if (auto it = a.find(ours); it != a.end()) {
      *used = ours;
      return &it->second;
    }
    if (legacy && has_legacy) {
      std::string old = std::string(kLegacyPrefix) + std::string(key);
      if (auto it = a.find(old); it != a.end()) {
        *used = old;
        return &it->second;
      }
    }
    return nullptr;
  }
};

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool QueryUnescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      *out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int h = FromHex(in[i + 1]), l = FromHex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      *out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      *out += in[i];
    }
  }
  return true;
}

bool ParseQuery(const std::string& q, std::map<std::string, std::vector<std::string>>* out) {
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t amp = q.find('&', pos);
    if (amp == std::string::npos) amp = q.size();
    std::string_view part(q.data() + pos, amp - pos);
    pos = amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string key, value;
    if (!QueryUnescape(part.substr(0, eq), &key) || key.empty()) return false;
    if (eq != std::string_view::npos && !QueryUnescape(part.substr(eq + 1), &value)) return false;
    (*out)[key].push_back(value);
  }
  return true;
}

}  // namespace

std::string WorkloadName(const std::string& pod_name) {
  auto dash = pod_name.rfind('-');
  if (dash == std::string::npos || dash == 0) return pod_name;
  std::string_view last = std::string_view(pod_name).substr(dash + 1);
  std::string_view head = std::string_view(pod_name).substr(0, dash);
  if (last.size() == 5 && AllOf(last, IsSafeAlnum)) {
    // <deployment>-<pod-template-hash>-<5>: a ReplicaSet's pod.
    auto dash2 = head.rfind('-');
    if (dash2 != std::string_view::npos && dash2 > 0) {
      std::string_view hash = head.substr(dash2 + 1);
      if (hash.size() >= 6 && hash.size() <= 10 && AllOf(hash, IsSafeAlnum))
        return std::string(head.substr(0, dash2));
    }
    return std::string(head);  // <daemonset|job>-<5>
  }
  if (AllOf(last, IsDigitChar)) return std::string(head);  // <statefulset>-<ordinal>
  return pod_name;
}

DerivedJob DeriveScrapeJob(const Annotations& annotations, const std::map<std::string, std::string>& labels,
                           const PodEnv& pod, const SidecarSettings& settings) {
  DerivedJob out;
  Lookup look{annotations, settings.legacy_annotations};
  std::string used;
  auto problem = [&](const std::string& annotation, std::string what) {
    out.problems.push_back({annotation, std::move(what)});
  };

  const std::string* scrape = look.Find("scrape", true, &used);
  if (scrape == nullptr) {
    out.reason = "the pod has no " + std::string(kPrefix) + "scrape annotation";
    return out;
  }
  if (*scrape != "true") {
    out.reason = used + " is \"" + Shorten(*scrape) + "\", not \"true\"";
    return out;
  }

  config::ScrapeConfig& job = out.job;
  // job label
  if (const std::string* j = look.Find("job", false, &used); j && !Trim(*j).empty()) {
    job.job_name = Trim(*j);
  } else if (auto it = labels.find("app.kubernetes.io/name"); it != labels.end() && !it->second.empty()) {
    job.job_name = it->second;
  } else if (auto it2 = labels.find("app"); it2 != labels.end() && !it2->second.empty()) {
    job.job_name = it2->second;
  } else {
    job.job_name = WorkloadName(pod.name);
  }

  // interval and timeout
  job.scrape_interval = settings.default_interval;
  if (const std::string* v = look.Find("scrape-interval", false, &used)) {
    auto d = units::ParseDuration(*v);
    if (!d.ok() || d->count() == 0) {
      problem(used, "\"" + Shorten(*v) + "\" is not a duration (e.g. 30s, 1m); using " +
                        units::FormatDuration(settings.default_interval));
    } else {
      job.scrape_interval = *d;
    }
  }
  if (job.scrape_interval < settings.min_scrape_interval) {
    problem(std::string(kPrefix) + "scrape-interval",
            units::FormatDuration(job.scrape_interval) + " is below the agent's minScrapeInterval; using " +
                units::FormatDuration(settings.min_scrape_interval));
    job.scrape_interval = settings.min_scrape_interval;
  }
  job.scrape_timeout = std::min(settings.default_timeout, job.scrape_interval);
  if (const std::string* v = look.Find("scrape-timeout", false, &used)) {
    auto d = units::ParseDuration(*v);
    if (!d.ok() || d->count() == 0) {
      problem(used, "\"" + Shorten(*v) + "\" is not a duration; using " +
                        units::FormatDuration(job.scrape_timeout));
    } else if (*d > job.scrape_interval) {
      problem(used, units::FormatDuration(*d) + " is longer than the scrape interval " +
                        units::FormatDuration(job.scrape_interval) + "; using " +
                        units::FormatDuration(job.scrape_timeout));
    } else {
      job.scrape_timeout = *d;
    }
  }

  // path, scheme, TLS, params
  if (const std::string* v = look.Find("path", true, &used)) {
    if (v->empty() || (*v)[0] != '/' || v->find_first_of(" ?#") != std::string::npos) {
      problem(used, "\"" + Shorten(*v) + "\" is not an absolute path; using /metrics");
    } else {
      job.metrics_path = *v;
    }
  }
  if (const std::string* v = look.Find("scheme", true, &used)) {
    if (*v == "http" || *v == "https") {
      job.scheme = *v;
    } else {
      problem(used, "\"" + Shorten(*v) + "\" is not http or https; using http");
    }
  }
  if (const std::string* v = look.Find("insecure-skip-verify", false, &used)) {
    if (*v == "true") {
      job.tls_config.insecure_skip_verify = true;
    } else if (*v != "false") {
      problem(used, "\"" + Shorten(*v) + "\" is not true or false; certificates are verified");
    }
  }
  if (const std::string* v = look.Find("params", false, &used)) {
    std::map<std::string, std::vector<std::string>> params;
    if (ParseQuery(*v, &params)) {
      job.params = std::move(params);
    } else {
      problem(used, "not a URL-encoded query (e.g. module=http_2xx&x=1); no params sent");
    }
  }

  // limits: the agent's, and an annotation may only lower sample_limit
  job.limits = settings.limits;
  if (const std::string* v = look.Find("sample-limit", false, &used)) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    uint64_t agent = settings.limits.sample_limit;
    if (ec != std::errc() || p != v->data() + v->size() || n == 0) {
      problem(used, "\"" + Shorten(*v) + "\" is not a positive number; using " +
                        (agent ? std::to_string(agent) : std::string("no limit")));
    } else if (agent != 0 && n > agent) {
      problem(used, std::to_string(n) + " is above the agent's sampleLimit; using " + std::to_string(agent));
    } else {
      job.limits.sample_limit = n;
    }
  }

  // host
  std::string host = "127.0.0.1";
  if (const std::string* v = look.Find("scrape-host", false, &used)) {
    if (*v == "pod-ip") {
      if (pod.ip.empty()) {
        problem(used, "pod-ip requested but POD_IP is not set; using 127.0.0.1");
      } else {
        host = pod.ip.find(':') != std::string::npos ? "[" + pod.ip + "]" : pod.ip;
      }
    } else if (*v != "localhost" && *v != "127.0.0.1") {
      problem(used, "\"" + Shorten(*v) + "\" is not localhost or pod-ip; using 127.0.0.1");
    }
  }

  // ports: one target each
  const std::string* port_list = look.Find("port", true, &used);
  std::string no_port = "no valid port in " + std::string(kPrefix) + "port";
  if (port_list == nullptr) {
    problem(std::string(kPrefix) + "port", "missing: nothing to scrape (set it to the port of /metrics)");
  } else {
    std::vector<int> seen;
    std::string first_problem;
    std::vector<ports::NamedPort> named;
    if (auto it = annotations.find(ports::kContainerPortsAnnotation); it != annotations.end())
      named = ports::ParseNamedPorts(it->second);
    for (const std::string& part : ports::SplitPortList(*port_list)) {
      ports::PortRef ref = ports::Resolve(part, named);
      if (ref.error != ports::PortError::kNone) {
        if (first_problem.empty()) first_problem = ports::ShowPart(part) + " " + ref.problem;
        problem(used, ports::ShowPart(part) + " " + ref.problem + "; that target is skipped");
        continue;
      }
      const int port = ref.port;
      if (std::find(seen.begin(), seen.end(), port) != seen.end()) continue;
      seen.push_back(port);
      config::StaticConfig sc;
      sc.targets.push_back(host + ":" + std::to_string(port));
      sc.labels = {{"instance", pod.name + ":" + std::to_string(port)},
                   {"namespace", pod.namespace_},
                   {"pod", pod.name}};
      model::Canonicalize(sc.labels);
      job.static_configs.push_back(std::move(sc));
    }
    if (!first_problem.empty()) no_port = "no valid port in " + used + ": " + first_problem;
  }
  if (job.static_configs.empty()) {
    out.reason = std::move(no_port);
    return out;
  }
  out.scrape = true;
  return out;
}

}  // namespace promsidecar::podinfo
