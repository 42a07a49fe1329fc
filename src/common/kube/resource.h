// A resource descriptor: enough to build the REST path of any core or custom
// resource, so both go through the same client code.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace promsidecar::kube {

struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "configmaps"
  bool namespaced = true;

  // "v1" for core, "apps/v1" otherwise: the apiVersion of the objects.
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "configmaps" or "widgets.test.promsidecar.io" (for messages).
  std::string Name() const { return group.empty() ? plural : plural + "." + group; }
};

namespace resources {
// Well-known resources used by our components.
Resource Namespaces();
Resource ConfigMaps();
Resource Secrets();
Resource Pods();
Resource ServiceAccounts();
Resource Services();
Resource Events();
Resource Leases();
Resource CustomResourceDefinitions();
Resource MutatingWebhookConfigurations();
Resource ValidatingWebhookConfigurations();
}  // namespace resources

// "/api/v1/namespaces/ns/configmaps/name/status". `ns` is ignored for
// cluster-scoped resources; empty `ns` for a namespaced one means all
// namespaces (list/watch); empty `name` means the collection.
std::string ResourcePath(const Resource& r, std::string_view ns, std::string_view name = {},
                         std::string_view subresource = {});

// Percent-encodes one query-string value or path segment (RFC 3986 unreserved
// characters pass through).
std::string UrlEncode(std::string_view s);
// "?a=1&b=2" from pairs, skipping empty values; "" when nothing remains.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace promsidecar::kube
