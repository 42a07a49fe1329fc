#include "agent/scrape/limits.h"

namespace promsidecar::scrape {

std::optional<std::string> CheckLabelLimits(const model::Labels& labels, const Limits& limits) {
  if (limits.label_limit > 0 && labels.size() > limits.label_limit) {
    return "label_limit exceeded: series " + model::ToString(labels) + " has " +
           std::to_string(labels.size()) + " labels, limit " + std::to_string(limits.label_limit);
  }
  for (const auto& l : labels) {
    if (limits.label_name_length_limit > 0 && l.name.size() > limits.label_name_length_limit) {
      return "label_name_length_limit exceeded: label name \"" + l.name + "\" has " +
             std::to_string(l.name.size()) + " bytes, limit " +
             std::to_string(limits.label_name_length_limit);
    }
    if (limits.label_value_length_limit > 0 && l.value.size() > limits.label_value_length_limit) {
      // The value itself may be huge; name the label, not the value.
      return "label_value_length_limit exceeded: value of label \"" + l.name + "\" has " +
             std::to_string(l.value.size()) + " bytes, limit " +
             std::to_string(limits.label_value_length_limit);
    }
  }
  return std::nullopt;
}

std::optional<std::string> CheckSampleLimit(uint64_t samples, const Limits& limits) {
  if (limits.sample_limit > 0 && samples > limits.sample_limit) {
    return "sample_limit exceeded: " + std::to_string(samples) + " samples after metric relabeling, limit " +
           std::to_string(limits.sample_limit);
  }
  return std::nullopt;
}

}  // namespace promsidecar::scrape
