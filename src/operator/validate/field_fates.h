// The fate of every field of upstream's PrometheusAgent spec and
// RemoteWriteSpec in Sidecar mode: honoured, refused at admission (with what
// to use instead) or ignored by design (with the reason, as a warning).
//
// This table is the single source: the validating webhook walks it, the
// table in docs/operator.md and the CRD's schema and CEL rules are checked
// against it by test/operator/validate/field_fates_test.cc, so none of the
// three can drift from the others.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/api/field_error.h"

namespace promsidecar::validate {

enum class Fate { kHonoured, kRefused, kIgnored };

struct FieldFate {
  // Dotted path from the object's root; "[]" marks every item of a list,
  // e.g. "spec.remoteWrite[].tlsConfig.caFile".
  std::string_view path;
  Fate fate;
  // Honoured: where the value goes. Refused: why, and what to use instead.
  // Ignored: why ignoring it loses nothing.
  std::string_view note;
  // Ignored fields only: the value upstream's CRD defaults the field to,
  // which warrants no warning (the user did not write it).
  std::string_view quiet_value = {};
};

// Every upstream field (and promsidecar's own additions at those levels), in
// the order of docs/operator.md.
std::span<const FieldFate> FieldFates();

std::string_view FateName(Fate fate);  // "honoured", "refused", "ignored"

// The findings for a Sidecar-mode object's spec: one error per refused field
// that is set (path with list indices, e.g. spec.remoteWrite[1].sigv4), one
// warning per ignored field set to anything but its quiet value.
void CheckFieldFates(const nlohmann::json& spec, std::vector<api::FieldError>* out);

// The message of a refused field's error: the same text the CRD's CEL rule
// carries after the field's path.
std::string RefusalMessage(const FieldFate& fate);

}  // namespace promsidecar::validate
