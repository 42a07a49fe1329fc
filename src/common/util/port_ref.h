// The scrape ports a pod names in its `prometheus.operator.io/port`
// annotation: numbers, or names of the pod's container ports. Pure.
//
// The agent sees its pod only through the downward API (annotations and
// labels), never the container specs, so the webhook, which sees the whole
// pod, records the pod's named ports in kContainerPortsAnnotation when it
// injects, and both resolve a name with Resolve below. Container ports are
// immutable, so that record stays true for the pod's lifetime while the port
// annotation itself may be edited.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace promsidecar::ports {

// Written by the webhook: "http-metrics=8080,grpc=9090", one entry per named
// TCP port of the native sidecars and app containers, in pod order; a name
// two containers declare appears twice.
inline constexpr const char* kContainerPortsAnnotation = "prometheus.operator.io/container-ports";

struct NamedPort {
  std::string name;
  int port = 0;
  friend bool operator==(const NamedPort&, const NamedPort&) = default;
};

std::string FormatNamedPorts(const std::vector<NamedPort>& ports);
// Entries that are not name=port (1-65535) are dropped: the annotation is
// ours, and a hand-edited one must not stop the agent.
std::vector<NamedPort> ParseNamedPorts(std::string_view text);

// "8080, http-metrics,,9090" → {"8080", "http-metrics", "9090"}: split at
// commas, blanks trimmed, empty parts dropped.
std::vector<std::string> SplitPortList(std::string_view text);

enum class PortError {
  kNone,
  kBadNumber,      // digits, but not 1-65535
  kUnknownName,    // no container declares a port of that name
  kAmbiguousName,  // containers declare that name with different numbers
};

struct PortRef {
  int port = 0;  // when error == kNone
  PortError error = PortError::kNone;
  std::string problem;  // what is wrong, without echoing the part (callers quote it, shortened)
};

// A part as messages show it: quoted, and cut at 64 characters (annotation
// values can be large).
std::string ShowPart(std::string_view part);

// One part of the port list: a number, or a name looked up in named.
PortRef Resolve(std::string_view part, const std::vector<NamedPort>& named);

}  // namespace promsidecar::ports
