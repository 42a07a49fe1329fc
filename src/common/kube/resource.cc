#include "common/kube/resource.h"

namespace promsidecar::kube {

namespace resources {
Resource Namespaces() {
  return {"", "v1", "namespaces", false};
}
Resource ConfigMaps() {
  return {"", "v1", "configmaps", true};
}
Resource Secrets() {
  return {"", "v1", "secrets", true};
}
Resource Pods() {
  return {"", "v1", "pods", true};
}
Resource ServiceAccounts() {
  return {"", "v1", "serviceaccounts", true};
}
Resource Services() {
  return {"", "v1", "services", true};
}
Resource Events() {
  return {"", "v1", "events", true};
}
Resource Leases() {
  return {"coordination.k8s.io", "v1", "leases", true};
}
Resource CustomResourceDefinitions() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
}
Resource MutatingWebhookConfigurations() {
  return {"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", false};
}
Resource ValidatingWebhookConfigurations() {
  return {"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", false};
}
}  // namespace resources

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    out += out.empty() ? "?" : "&";
    out += UrlEncode(k) + "=" + UrlEncode(v);
  }
  return out;
}

std::string ResourcePath(const Resource& r, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  std::string path = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) path += "/namespaces/" + UrlEncode(ns);
  path += "/" + r.plural;
  if (!name.empty()) {
    path += "/" + UrlEncode(name);
    if (!subresource.empty()) path += "/" + std::string(subresource);
  }
  return path;
}

}  // namespace promsidecar::kube
