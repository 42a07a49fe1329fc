// RFC 3339 timestamps as Kubernetes writes them (metav1.Time, MicroTime).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace promsidecar::util {

// "2026-01-02T03:04:05Z", "...+02:00", fractions ignored; nullopt when unreadable.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text);
// "2026-01-02T03:04:05Z" (metav1.Time).
std::string FormatRfc3339(std::chrono::system_clock::time_point t);
// "2026-01-02T03:04:05.123456Z" (metav1.MicroTime, e.g. events.k8s.io eventTime).
std::string FormatRfc3339Micro(std::chrono::system_clock::time_point t);

}  // namespace promsidecar::util
