#include "agent/relabel/relabel.h"

#include <openssl/evp.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "common/util/utf8.h"

namespace promsidecar::relabel {

// A `$`-template parsed once at Compile time: literal runs and references to
// capture groups, resolved to group indexes (-1: a group that cannot exist,
// which expands to nothing, as in Go).
struct Rule::Template {
  struct Piece {
    std::string literal;
    int group = -1;
    bool is_ref = false;
  };
  std::vector<Piece> pieces;
  bool has_refs = false;
};

// Gives the free functions below access to Rule's internals without making
// them part of the public interface.
struct RuleAccess {
  static std::shared_ptr<const RelabelConfigSpec>& spec(Rule& r) { return r.spec_; }
  static Action& action(Rule& r) { return r.action_; }
  static std::vector<std::string>& source_labels(Rule& r) { return r.source_labels_; }
  static std::string& separator(Rule& r) { return r.separator_; }
  static std::string& target_label(Rule& r) { return r.target_label_; }
  static std::shared_ptr<const re2::RE2>& regex(Rule& r) { return r.regex_; }
  static uint64_t& modulus(Rule& r) { return r.modulus_; }
  static std::shared_ptr<const Rule::Template>& target_template(Rule& r) { return r.target_template_; }
  static std::shared_ptr<const Rule::Template>& replacement(Rule& r) { return r.replacement_; }

  static bool Apply(const Rule& rule, model::Labels& labels);
};

namespace {

struct ActionEntry {
  Action action;
  std::string_view name;
};

constexpr std::array<ActionEntry, 11> kActions{{
    {Action::kReplace, "replace"},
    {Action::kKeep, "keep"},
    {Action::kDrop, "drop"},
    {Action::kKeepEqual, "keepequal"},
    {Action::kDropEqual, "dropequal"},
    {Action::kHashMod, "hashmod"},
    {Action::kLabelMap, "labelmap"},
    {Action::kLabelDrop, "labeldrop"},
    {Action::kLabelKeep, "labelkeep"},
    {Action::kLowercase, "lowercase"},
    {Action::kUppercase, "uppercase"},
}};

bool IsAsciiWord(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// A target_label or labelmap replacement with `$` references must still look
// like a label name around them (Prometheus's relabelTarget pattern).
const re2::RE2& TargetPattern() {
  static const re2::RE2 re(R"(^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$)");
  return re;
}

// Go's regexp.Expand name rule: letters, digits and `_`. Bytes of multi-byte
// UTF-8 sequences count as letters (Go asks unicode.IsLetter; non-ASCII
// letters are by far the common case).
bool IsNameByte(unsigned char c) {
  return IsAsciiWord(static_cast<char>(c)) || c >= 0x80;
}

// Parses `text` as Go's Regexp.Expand reads a template.
std::shared_ptr<const Rule::Template> ParseTemplate(std::string_view text, const re2::RE2& re) {
  auto t = std::make_shared<Rule::Template>();
  auto literal = [&](std::string_view s) {
    if (s.empty()) return;
    if (t->pieces.empty() || t->pieces.back().is_ref) t->pieces.push_back({});
    t->pieces.back().literal.append(s);
  };
  const auto& names = re.NamedCapturingGroups();
  while (!text.empty()) {
    size_t dollar = text.find('$');
    if (dollar == std::string_view::npos) break;
    literal(text.substr(0, dollar));
    text.remove_prefix(dollar + 1);
    if (!text.empty() && text[0] == '$') {
      literal("$");
      text.remove_prefix(1);
      continue;
    }
    // Extract a name, braced or not.
    std::string_view rest = text;
    bool brace = !rest.empty() && rest[0] == '{';
    if (brace) rest.remove_prefix(1);
    size_t n = 0;
    while (n < rest.size() && IsNameByte(static_cast<unsigned char>(rest[n]))) ++n;
    bool ok = n > 0;
    std::string_view name = rest.substr(0, n);
    size_t consumed = n;
    if (ok && brace) {
      if (n >= rest.size() || rest[n] != '}') {
        ok = false;
      } else {
        ++consumed;
      }
    }
    if (!ok) {
      literal("$");  // malformed: the `$` is plain text
      continue;
    }
    text = rest.substr(consumed);
    // A number (no leading zero, below 1e8) is a group index; anything else a
    // group name.
    int64_t num = 0;
    for (char c : name) {
      if (c < '0' || c > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (c - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;
    Rule::Template::Piece ref;
    ref.is_ref = true;
    if (num >= 0) {
      ref.group = num <= re.NumberOfCapturingGroups() ? static_cast<int>(num) : -1;
    } else {
      auto it = names.find(std::string(name));
      ref.group = it == names.end() ? -1 : it->second;
    }
    t->pieces.push_back(std::move(ref));
    t->has_refs = true;
  }
  literal(text);
  return t;
}

void Expand(const Rule::Template& t, std::span<const re2::StringPiece> groups, std::string& out) {
  out.clear();
  for (const auto& p : t.pieces) {
    if (!p.is_ref) {
      out.append(p.literal);
    } else if (p.group >= 0 && static_cast<size_t>(p.group) < groups.size() &&
               groups[p.group].data() != nullptr) {
      out.append(groups[p.group].data(), groups[p.group].size());
    }
  }
}

bool FullMatch(const re2::RE2& re, std::string_view text) {
  return re.Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), re2::RE2::ANCHOR_BOTH, nullptr,
                  0);
}

// --- Case mapping (see the header for the covered scripts) ---

char32_t ToLowerRune(char32_t r) {
  if (r >= 'A' && r <= 'Z') return r + 32;
  if (r < 0x80) return r;
  if (r >= 0xC0 && r <= 0xDE && r != 0xD7) return r + 32;
  if (r == 0x130) return 'i';
  if (r >= 0x100 && r <= 0x137) return (r % 2 == 0) ? r + 1 : r;
  if (r >= 0x139 && r <= 0x148) return (r % 2 == 1) ? r + 1 : r;
  if (r >= 0x14A && r <= 0x177) return (r % 2 == 0) ? r + 1 : r;
  if (r == 0x178) return 0xFF;
  if (r >= 0x179 && r <= 0x17E) return (r % 2 == 1) ? r + 1 : r;
  if (r == 0x386) return 0x3AC;
  if (r >= 0x388 && r <= 0x38A) return r + 37;
  if (r == 0x38C) return 0x3CC;
  if (r == 0x38E || r == 0x38F) return r + 63;
  if (r >= 0x391 && r <= 0x3AB && r != 0x3A2) return r + 32;
  if (r >= 0x400 && r <= 0x40F) return r + 80;
  if (r >= 0x410 && r <= 0x42F) return r + 32;
  if ((r >= 0x460 && r <= 0x481) || (r >= 0x48A && r <= 0x4BF) || (r >= 0x4D0 && r <= 0x52F)) {
    return (r % 2 == 0) ? r + 1 : r;
  }
  if (r >= 0x531 && r <= 0x556) return r + 48;
  if ((r >= 0x1E00 && r <= 0x1E95) || (r >= 0x1EA0 && r <= 0x1EFF)) return (r % 2 == 0) ? r + 1 : r;
  if (r >= 0xFF21 && r <= 0xFF3A) return r + 32;
  return r;
}

char32_t ToUpperRune(char32_t r) {
  if (r >= 'a' && r <= 'z') return r - 32;
  if (r < 0x80) return r;
  if (r == 0xB5) return 0x39C;
  if (r >= 0xE0 && r <= 0xFE && r != 0xF7) return r - 32;
  if (r == 0xFF) return 0x178;
  if (r == 0x131) return 'I';
  if (r >= 0x101 && r <= 0x137) return (r % 2 == 1) ? r - 1 : r;
  if (r >= 0x13A && r <= 0x148) return (r % 2 == 0) ? r - 1 : r;
  if (r >= 0x14B && r <= 0x177) return (r % 2 == 1) ? r - 1 : r;
  if (r >= 0x17A && r <= 0x17E) return (r % 2 == 0) ? r - 1 : r;
  if (r == 0x17F) return 'S';
  if (r == 0x3AC) return 0x386;
  if (r >= 0x3AD && r <= 0x3AF) return r - 37;
  if (r == 0x3C2) return 0x3A3;
  if (r >= 0x3B1 && r <= 0x3CB) return r - 32;
  if (r == 0x3CC) return 0x38C;
  if (r == 0x3CD || r == 0x3CE) return r - 63;
  if (r >= 0x430 && r <= 0x44F) return r - 32;
  if (r >= 0x450 && r <= 0x45F) return r - 80;
  if ((r >= 0x461 && r <= 0x481) || (r >= 0x48B && r <= 0x4BF) || (r >= 0x4D1 && r <= 0x52F)) {
    return (r % 2 == 1) ? r - 1 : r;
  }
  if (r >= 0x561 && r <= 0x586) return r - 48;
  if ((r >= 0x1E01 && r <= 0x1E95) || (r >= 0x1EA1 && r <= 0x1EFF)) return (r % 2 == 1) ? r - 1 : r;
  if (r >= 0xFF41 && r <= 0xFF5A) return r - 32;
  return r;
}

std::string MapCase(std::string_view in, bool upper) {
  std::string out;
  out.reserve(in.size());
  bool ascii = std::all_of(in.begin(), in.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    for (char c : in) {
      out += static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c))
                                     : std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
  }
  for (size_t i = 0; i < in.size();) {
    size_t width = 1;
    char32_t r = DecodeUtf8(in.substr(i), width);
    AppendUtf8(out, upper ? ToUpperRune(r) : ToLowerRune(r));
    i += width;
  }
  return out;
}

std::string HashModValue(std::string_view value, uint64_t modulus) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  // MD5 is what Prometheus uses here; it is not used for security.
  EVP_Digest(value.data(), value.size(), digest.data(), &len, EVP_md5(), nullptr);
  uint64_t tail = 0;
  for (size_t i = 8; i < 16; ++i) tail = (tail << 8) | digest[i];
  return std::to_string(tail % modulus);
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

std::string_view ActionName(Action action) {
  for (const auto& e : kActions) {
    if (e.action == action) return e.name;
  }
  return "unknown";
}

std::optional<Action> ParseAction(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kActions) {
    if (e.name == lower) return e.action;
  }
  return std::nullopt;
}

std::string ActionNames() {
  std::string out;
  for (const auto& e : kActions) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

std::optional<CompileError> Compile(const RelabelConfigSpec& spec, Rule& out) {
  const Action action = spec.action.value_or(Action::kReplace);
  const std::string target = spec.target_label.value_or("");
  const std::string replacement = spec.replacement.value_or(std::string(kDefaultReplacement));
  const std::string separator = spec.separator.value_or(std::string(kDefaultSeparator));
  const uint64_t modulus = spec.modulus.value_or(0);
  const std::string action_name(ActionName(action));
  auto fail = [](std::string field, std::string message) {
    return std::optional<CompileError>(CompileError{std::move(field), std::move(message)});
  };

  if (spec.source_labels) {
    for (const auto& name : *spec.source_labels) {
      if (!model::IsValidLabelName(name)) {
        return fail("source_labels", Quote(name) + " is not a valid label name (use [a-zA-Z_][a-zA-Z0-9_]*)");
      }
    }
  }
  // The checks below follow the order of Prometheus's Config.Validate, so the
  // first complaint matches the one Prometheus would make.
  if (action == Action::kHashMod && modulus == 0) {
    return fail("modulus", "action hashmod requires a modulus greater than 0");
  }
  const bool needs_target = action == Action::kReplace || action == Action::kHashMod ||
                            action == Action::kLowercase || action == Action::kUppercase ||
                            action == Action::kKeepEqual || action == Action::kDropEqual;
  if (needs_target && target.empty()) {
    return fail("target_label", "action " + action_name + " requires target_label");
  }
  const bool has_dollar = target.find('$') != std::string::npos;
  const bool plain_target_action = action == Action::kLowercase || action == Action::kUppercase ||
                                   action == Action::kKeepEqual || action == Action::kDropEqual ||
                                   action == Action::kHashMod;
  if (action == Action::kReplace &&
      (has_dollar ? !re2::RE2::FullMatch(target, TargetPattern()) : !model::IsValidLabelName(target))) {
    return fail("target_label",
                Quote(target) + " is not a valid target_label for action replace (a label name " +
                    "[a-zA-Z_][a-zA-Z0-9_]*, which may contain $1, ${1} or ${name} references)");
  }
  if (plain_target_action && !model::IsValidLabelName(target)) {
    return fail("target_label", Quote(target) + " is not a valid target_label for action " + action_name +
                                    " (a label name [a-zA-Z_][a-zA-Z0-9_]*, no $ references)");
  }
  if ((action == Action::kLowercase || action == Action::kUppercase || action == Action::kKeepEqual ||
       action == Action::kDropEqual) &&
      replacement != kDefaultReplacement) {
    return fail("replacement", "replacement cannot be set for action " + action_name);
  }
  if (action == Action::kLabelMap && !re2::RE2::FullMatch(replacement, TargetPattern())) {
    return fail("replacement", Quote(replacement) +
                                   " is not a valid replacement for action labelmap (a label name that may " +
                                   "contain $1, ${1} or ${name} references)");
  }
  if (action == Action::kKeepEqual || action == Action::kDropEqual) {
    std::string field;
    if (spec.regex) field = "regex";
    if (modulus != 0) field = "modulus";
    if (separator != kDefaultSeparator) field = "separator";
    if (!field.empty()) {
      return fail(field,
                  "action " + action_name + " takes only source_labels and target_label; remove " + field);
    }
  }
  if (action == Action::kLabelDrop || action == Action::kLabelKeep) {
    std::string field;
    if (spec.source_labels) field = "source_labels";
    if (!target.empty()) field = "target_label";
    if (modulus != 0) field = "modulus";
    if (separator != kDefaultSeparator) field = "separator";
    if (replacement != kDefaultReplacement) field = "replacement";
    if (!field.empty()) {
      return fail(field, "action " + action_name + " takes only regex; remove " + field);
    }
  }

  const std::string pattern = spec.regex.value_or(std::string(kDefaultRegex));
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>("^(?:" + pattern + ")$", options);
  if (!re->ok()) {
    return fail("regex", "regex " + Quote(pattern) + " does not compile as RE2: " + re->error() +
                             " (see https://github.com/google/re2/wiki/Syntax)");
  }

  Rule rule;
  RuleAccess::spec(rule) = std::make_shared<const RelabelConfigSpec>(spec);
  RuleAccess::action(rule) = action;
  RuleAccess::source_labels(rule) = spec.source_labels.value_or(std::vector<std::string>{});
  RuleAccess::separator(rule) = separator;
  RuleAccess::target_label(rule) = target;
  RuleAccess::modulus(rule) = modulus;
  if (action == Action::kReplace) RuleAccess::target_template(rule) = ParseTemplate(target, *re);
  if (action == Action::kReplace || action == Action::kLabelMap) {
    RuleAccess::replacement(rule) = ParseTemplate(replacement, *re);
  }
  RuleAccess::regex(rule) = std::move(re);
  out = std::move(rule);
  return std::nullopt;
}

Result<Rule> Compile(const RelabelConfigSpec& spec) {
  Rule rule;
  if (auto err = Compile(spec, rule)) return MakeError(err->message);
  return rule;
}

bool RuleAccess::Apply(const Rule& rule, model::Labels& labels) {
  if (!rule.regex_) return true;  // a default-constructed placeholder
  // With one source label (the common case) the value is read in place; it is
  // only used before `labels` is modified.
  std::string joined;
  std::string_view value;
  if (rule.source_labels_.size() == 1) {
    value = model::Get(labels, rule.source_labels_[0]);
  } else {
    for (size_t i = 0; i < rule.source_labels_.size(); ++i) {
      if (i > 0) joined += rule.separator_;
      joined += model::Get(labels, rule.source_labels_[i]);
    }
    value = joined;
  }
  const re2::RE2& re = *rule.regex_;

  switch (rule.action_) {
    case Action::kDrop: return !FullMatch(re, value);
    case Action::kKeep: return FullMatch(re, value);
    case Action::kDropEqual: return model::Get(labels, rule.target_label_) != value;
    case Action::kKeepEqual: return model::Get(labels, rule.target_label_) == value;
    case Action::kReplace: {
      const int ngroups = 1 + re.NumberOfCapturingGroups();
      std::array<re2::StringPiece, 16> small;
      std::vector<re2::StringPiece> large;
      std::span<re2::StringPiece> groups;
      if (ngroups <= static_cast<int>(small.size())) {
        groups = std::span<re2::StringPiece>(small.data(), ngroups);
      } else {
        large.resize(ngroups);
        groups = large;
      }
      if (!re.Match(re2::StringPiece(value.data(), value.size()), 0, value.size(), re2::RE2::ANCHOR_BOTH,
                    groups.data(), ngroups)) {
        return true;  // no match, no replacement
      }
      std::string expanded_target;
      std::string_view target = rule.target_label_;
      if (rule.target_template_->has_refs) {
        Expand(*rule.target_template_, groups, expanded_target);
        if (!model::IsValidLabelName(expanded_target)) return true;
        target = expanded_target;
      }
      std::string result;
      Expand(*rule.replacement_, groups, result);
      model::Set(labels, target, result);  // an empty result deletes the label
      return true;
    }
    case Action::kLowercase: model::Set(labels, rule.target_label_, MapCase(value, false)); return true;
    case Action::kUppercase: model::Set(labels, rule.target_label_, MapCase(value, true)); return true;
    case Action::kHashMod:
      model::Set(labels, rule.target_label_, HashModValue(value, rule.modulus_));
      return true;
    case Action::kLabelMap: {
      const int ngroups = 1 + re.NumberOfCapturingGroups();
      std::vector<re2::StringPiece> groups(ngroups);
      const model::Labels before = labels;
      std::string name;
      for (const auto& l : before) {
        if (!re.Match(re2::StringPiece(l.name.data(), l.name.size()), 0, l.name.size(), re2::RE2::ANCHOR_BOTH,
                      groups.data(), ngroups)) {
          continue;
        }
        Expand(*rule.replacement_, groups, name);
        if (!name.empty()) model::Set(labels, name, l.value);
      }
      return true;
    }
    case Action::kLabelDrop:
      std::erase_if(labels, [&](const model::Label& l) { return FullMatch(re, l.name); });
      return true;
    case Action::kLabelKeep:
      std::erase_if(labels, [&](const model::Label& l) { return !FullMatch(re, l.name); });
      return true;
  }
  return true;
}

bool Process(model::Labels& labels, std::span<const Rule> rules) {
  for (const auto& rule : rules) {
    if (!RuleAccess::Apply(rule, labels)) return false;
  }
  return true;
}

}  // namespace promsidecar::relabel
