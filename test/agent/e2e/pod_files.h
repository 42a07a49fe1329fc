// The files a sidecar reads in a pod, laid out and updated the way the kubelet
// does it (reload/kubelet_volume.h: timestamped dir, `..data` swapped by
// rename): the downwardAPI volume (annotations, labels) and the shared-config
// Secret volume. Shared by the end-to-end tests of both agent modes.
#pragma once

#include <map>
#include <string>

#include "agent/reload/kubelet_volume.h"

namespace promsidecar::testing {

// A downwardAPI file: `key="value"` lines, values quoted like Go's
// strconv.Quote (enough for the ASCII values tests use).
inline std::string DownwardApi(const std::map<std::string, std::string>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    out += (out.empty() ? "" : "\n") + k + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out;
}

// The pod's scrape annotations for a target on `port` scraped every second.
inline std::map<std::string, std::string> ScrapeAnnotations(int port, const std::string& path = "/metrics") {
  return {{"prometheus.operator.io/scrape", "true"},
          {"prometheus.operator.io/port", std::to_string(port)},
          {"prometheus.operator.io/path", path},
          {"prometheus.operator.io/scrape-interval", "1s"}};
}

class PodFiles {
 public:
  explicit PodFiles(const std::string& root) : pod_(root + "/pod"), shared_(root + "/shared") {}

  void WritePod(const std::map<std::string, std::string>& annotations,
                const std::map<std::string, std::string>& labels) {
    pod_.Publish({{"annotations", DownwardApi(annotations)}, {"labels", DownwardApi(labels)}});
  }
  void WriteShared(const std::string& yaml) { shared_.Publish({{"config.yaml", yaml}}); }

  std::string annotations_file() const { return pod_.Path("annotations"); }
  std::string labels_file() const { return pod_.Path("labels"); }
  std::string shared_file() const { return shared_.Path("config.yaml"); }

 private:
  reload::testing::KubeletVolume pod_;
  reload::testing::KubeletVolume shared_;
};

}  // namespace promsidecar::testing
