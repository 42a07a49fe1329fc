// Prometheus relabeling (relabel_configs, metric_relabel_configs,
// write_relabel_configs) with Prometheus's semantics, on RE2.
//
// A RelabelConfigSpec is a rule as written in the config; Compile validates it
// as Prometheus does (model/relabel Config.Validate with the legacy label-name
// rule [a-zA-Z_][a-zA-Z0-9_]*, which remote write 1.0 requires) and compiles its regex once into a Rule.
// Process applies rules in order and never compiles anything, so it is cheap on the scrape path.
//
// Behaviour worth knowing (all as Prometheus):
// - regex is anchored at both ends: `foo` means `^(?:foo)$`.
// - Templates (`replacement`, a `replace` target_label with `$`) expand like
//   Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$` for a literal
//   `$`; a name is the longest run of letters, digits and `_`, so `$1x` names
//   the (usually absent) group `1x` and expands to nothing; a malformed
//   reference (`$`, `${`, `${}`) stays as literal text. Non-ASCII characters
//   count as name characters (Go: any Unicode letter or digit).
// - replace: no match leaves the labels alone; an expanded target that is not
//   a valid label name is skipped; an empty result deletes the target label.
// - hashmod: md5 of the joined source values; the LAST 8 bytes of the digest,
//   read big-endian, modulo `modulus`.
// - labelmap/labeldrop/labelkeep look at the labels as they were before the
//   rule started (a label written by labelmap is not itself re-mapped).
// - lowercase/uppercase map ASCII and the cased letters of Latin-1, Latin
//   Extended-A/Additional, Greek, Cyrillic, Armenian and fullwidth Latin (Go
//   maps all of Unicode; other scripts stay unchanged here). Invalid UTF-8
//   becomes U+FFFD when the value is not pure ASCII, as in Go.
// - labelmap may produce a label name that is not valid (Prometheus does too);
//   callers validate the final label set. An empty name is never produced.
//
// Thread safety: a Rule is immutable after Compile and may be shared and used
// by many threads at once (it is cheap to copy: the regex is shared).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/model/labels.h"
#include "common/util/result.h"

namespace re2 {
class RE2;
}

namespace promsidecar::relabel {

enum class Action {
  kReplace,
  kKeep,
  kDrop,
  kKeepEqual,
  kDropEqual,
  kHashMod,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
};

// "replace", "keep", ... as written in a config.
std::string_view ActionName(Action action);
// Case-insensitive, as Prometheus; nullopt for an unknown action.
std::optional<Action> ParseAction(std::string_view name);
// "replace, keep, drop, ..." for error messages.
std::string ActionNames();

inline constexpr std::string_view kDefaultSeparator = ";";
inline constexpr std::string_view kDefaultRegex = "(.*)";
inline constexpr std::string_view kDefaultReplacement = "$1";

// One rule as written. An unset field takes Prometheus's default (shown);
// presence matters for validation (labeldrop may not set source_labels even
// to an empty list; keepequal may not set regex even to its default).
struct RelabelConfigSpec {
  std::optional<std::vector<std::string>> source_labels;  // none
  std::optional<std::string> separator;                   // ";"
  std::optional<std::string> target_label;                // none
  std::optional<std::string> regex;                       // "(.*)"
  std::optional<uint64_t> modulus;                        // 0
  std::optional<std::string> replacement;                 // "$1"
  std::optional<Action> action;                           // replace

  friend bool operator==(const RelabelConfigSpec&, const RelabelConfigSpec&) = default;
};

// A validated, compiled rule. Two rules are equal when their specs are. A
// default-constructed Rule is a placeholder for Compile(spec, out): it has an
// empty spec and Process treats it as a no-op.
class Rule {
 public:
  const RelabelConfigSpec& spec() const {
    static const RelabelConfigSpec kEmpty;
    return spec_ ? *spec_ : kEmpty;
  }
  Action action() const { return action_; }

  friend bool operator==(const Rule& a, const Rule& b) { return a.spec() == b.spec(); }

  struct Template;  // a parsed `$`-template (opaque)

 private:
  friend struct RuleAccess;
  std::shared_ptr<const RelabelConfigSpec> spec_;
  Action action_ = Action::kReplace;
  std::vector<std::string> source_labels_;
  std::string separator_;
  std::string target_label_;
  std::shared_ptr<const re2::RE2> regex_;
  uint64_t modulus_ = 0;
  std::shared_ptr<const Template> target_template_;  // replace only
  std::shared_ptr<const Template> replacement_;      // replace, labelmap
};

// The field Compile blames in an error, so a config loader can point at its
// line: "source_labels", "separator", "target_label", "regex", "modulus",
// "replacement" or "action".
struct CompileError {
  std::string field;
  std::string message;  // names the field and what is allowed
};

// Validates and compiles one rule. Messages never echo anything but the rule's
// own label names, regex and templates.
Result<Rule> Compile(const RelabelConfigSpec& spec);
// Same, with the blamed field reported separately (nullopt on success).
std::optional<CompileError> Compile(const RelabelConfigSpec& spec, Rule& out);

// Applies rules in order to `labels` (canonical on entry, canonical on return:
// sorted, no empty values). Returns false as soon as a rule drops the series;
// `labels` is then unspecified.
bool Process(model::Labels& labels, std::span<const Rule> rules);

}  // namespace promsidecar::relabel
