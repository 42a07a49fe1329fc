// Standard base64 (RFC 4648 §4, the alphabet with + and /), as Kubernetes
// uses it for Secret data, caBundle, kubeconfig *-data fields and
// AdmissionReview patches, and as HTTP Basic authentication needs it.
#pragma once

#include <string>
#include <string_view>

#include "common/util/result.h"

namespace promsidecar {

// With padding. Pure.
std::string EncodeBase64(std::string_view data);

// Padding optional, ASCII whitespace (space, \t, \r, \n) ignored anywhere;
// any other character outside the alphabet, data after padding, more than
// two padding characters or a dangling 6-bit group is an error. Pure.
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace promsidecar
