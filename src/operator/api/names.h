// Object names as the API server accepts them.
#pragma once

#include <string_view>

#include "common/util/result.h"

namespace promsidecar::api {

// A namespace name (a DNS-1123 label: what the API server accepts, so also fit
// for a namespaceSelector); the error says what is wrong with it. Pure.
Status CheckNamespaceName(std::string_view name);

}  // namespace promsidecar::api
