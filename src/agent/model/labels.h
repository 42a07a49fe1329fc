// The agent's data model: a series is a set of labels, a sample is a value at
// a time. Shared by scrape, relabel, WAL and remote write.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace promsidecar::model {

inline constexpr std::string_view kMetricName = "__name__";

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};

// Labels of one series. Canonical form: sorted by name, unique names, no empty
// values (an empty value means "label absent", as in Prometheus).
using Labels = std::vector<Label>;

// Sorts by name, drops empty values; on duplicate names the last one wins.
void Canonicalize(Labels& labels);
bool IsCanonical(const Labels& labels);
// Value of `name`, or empty when absent.
std::string_view Get(const Labels& labels, std::string_view name);
// Sets or (with an empty value) removes `name`, keeping canonical order.
void Set(Labels& labels, std::string_view name, std::string_view value);

// A stable 64-bit hash of canonical labels (FNV-1a over name\xff value\xff ...,
// see Fnv1a64::AddField).
uint64_t Hash(const Labels& labels);
// `{__name__="x", a="b"}` style, for logs and test messages.
std::string ToString(const Labels& labels);

bool IsValidMetricName(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidLabelName(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*

// Prometheus's staleness marker: a NaN with this exact bit pattern. A NaN read
// from a scrape is a different NaN (kNormalNaNBits) and must never become this.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;
inline constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ULL;
inline double StaleNaN() {
  return std::bit_cast<double>(kStaleNaNBits);
}
inline double NormalNaN() {
  return std::bit_cast<double>(kNormalNaNBits);
}
inline bool IsStaleNaN(double v) {
  return std::bit_cast<uint64_t>(v) == kStaleNaNBits;
}

struct Sample {
  int64_t timestamp_ms = 0;
  double value = 0;
};

}  // namespace promsidecar::model
