// What must hold for every byte string sent to the admission endpoints,
// shared by the fuzz target (test/fuzz/fuzz_admission_review.cc) and the
// unit test that replays its seeds and regression inputs.
//
// Input format: byte 0 picks the endpoint (bit 0: 0 = /mutate-pod with the
// real PodInjectionWebhook, 1 = /validate-prometheusagent with the real
// AgentValidationWebhook) and whether a JSON Content-Type header is sent
// (bit 1 set: no header); the rest is the request body.
#pragma once

#include <string>
#include <string_view>

#include "operator/admission/webhooks.h"

namespace promsidecar::admission {

// A fixed, in-memory cluster: a default sidecar agent serving namespaces
// labelled metrics=on, a legacyAnnotations agent serving team-a and team-b,
// and a StatefulSet-mode agent. Namespace labels are derived from the name
// (kubernetes.io/metadata.name; metrics=on for names starting with "app").
class FixedCluster : public ClusterFactsSource, public ValidationContextSource {
 public:
  FixedCluster();
  Result<inject::ClusterFacts> FactsFor(const std::string& pod_namespace) override;
  Result<validate::ValidationContext> ContextFor(const std::string& agent_namespace) override;

 private:
  std::vector<api::Agent> agents_;
};

// Runs `input` through ServeAdmission (decode → webhook → encode) and checks
// the answer: a 400 exactly when the body does not decode; otherwise a valid
// AdmissionReview echoing the UID, no internal error, a denial with a code
// and a message, warnings without control characters, and a patch that
// applies to the request's object, keeps every original container unchanged
// and, applied and sent again (reinvocation), never adds a second agent.
// Returns "" when all hold, else what broke.
std::string CheckAdmissionInput(std::string_view input);

}  // namespace promsidecar::admission
