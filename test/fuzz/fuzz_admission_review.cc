// Fuzzes the admission endpoint as the API server reaches it: bytes →
// ServeAdmission (decode → the real PodInjectionWebhook or
// AgentValidationWebhook over a fixed in-memory cluster → encode). The first
// byte picks the webhook and the Content-Type; the rest is the body. Beyond
// "no crash, no UB, no hang": the invariants of CheckAdmissionInput
// (test/operator/admission/admission_invariants.h) — a 400 exactly for
// undecodable bodies, otherwise a valid AdmissionReview echoing the UID, and
// a patch that applies to the pod, keeps its containers unchanged and never
// adds a second agent on reinvocation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admission_invariants.h"
#include "common/log/log.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Injections and denials log at info/warn: noise at thousands of inputs a
  // second. Errors stay visible.
  promsidecar::log::Configure(promsidecar::log::Level::kError, promsidecar::log::Format::kLogfmt);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = promsidecar::admission::CheckAdmissionInput(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "admission invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
