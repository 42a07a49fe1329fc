#include "operator/controller/fanout.h"

#include "common/log/log.h"
#include "common/util/json_access.h"
#include "operator/api/well_known.h"
#include "operator/render/render.h"

namespace promsidecar::controller {

using nlohmann::json;
using util::At;
using util::Str;

std::optional<std::string> SecretFanout::Known(const std::string& agent_key, const std::string& ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto a = known_.find(agent_key);
  if (a == known_.end()) return std::nullopt;
  auto n = a->second.find(ns);
  if (n == a->second.end()) return std::nullopt;
  return n->second;
}

std::vector<std::string> SecretFanout::KnownPresent(const std::string& agent_key) const {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  auto a = known_.find(agent_key);
  if (a == known_.end()) return out;
  for (const auto& [ns, hash] : a->second) {
    if (!hash.empty()) out.push_back(ns);
  }
  return out;
}

void SecretFanout::SetKnown(const std::string& agent_key, const std::string& ns, std::string hash) {
  std::lock_guard<std::mutex> lock(mu_);
  known_[agent_key][ns] = std::move(hash);
}

void SecretFanout::Forget(const std::string& agent_key) {
  std::lock_guard<std::mutex> lock(mu_);
  known_.erase(agent_key);
}

void SecretFanout::ForgetAll() {
  std::lock_guard<std::mutex> lock(mu_);
  known_.clear();
}

Status SecretFanout::Ensure(const std::string& agent_key, const api::Agent& agent, const json& secret,
                            const std::string& hash, const std::vector<std::string>& namespaces,
                            std::vector<std::string>* written) {
  Status first_failure;
  for (const auto& ns : namespaces) {
    json desired = secret;
    desired["metadata"]["namespace"] = ns;
    bool wrote = false;
    if (Status s = EnsureOne(agent_key, agent, std::move(desired), hash, &wrote); !s) {
      log::Warn("cannot write the rendered Secret; other namespaces go on",
                {{"agent", agent.Ref()}, {"namespace", ns}, {"error", s.message()}});
      if (first_failure.ok()) first_failure = s;
      continue;
    }
    if (wrote && written) written->push_back(ns);
  }
  return first_failure;
}

Status SecretFanout::EnsureOne(const std::string& agent_key, const api::Agent& agent, json desired,
                               const std::string& hash, bool* wrote) {
  *wrote = false;
  const std::string ns = kube::Namespace(desired);
  const std::string name = kube::Name(desired);
  const auto known = Known(agent_key, ns);
  if (known && *known == hash) return {};
  std::optional<json> current;
  if (!known) {
    auto got = client_.Get(kube::resources::Secrets(), ns, name);
    calls_.Count("get", "secrets", got.ok() || kube::IsNotFound(got.error()));
    if (!got.ok() && !kube::IsNotFound(got.error())) {
      return MakeError("reading Secret " + ns + "/" + name + ": " + got.message());
    }
    if (got.ok()) current = std::move(*got);
  } else if (!known->empty()) {
    // Known to exist with other data: an update, guarded by a fresh read
    // (its resourceVersion and its owner).
    auto got = client_.Get(kube::resources::Secrets(), ns, name);
    calls_.Count("get", "secrets", got.ok() || kube::IsNotFound(got.error()));
    if (!got.ok() && !kube::IsNotFound(got.error())) {
      return MakeError("reading Secret " + ns + "/" + name + ": " + got.message());
    }
    if (got.ok()) current = std::move(*got);
  }
  if (!current) {
    auto created = client_.Create(kube::resources::Secrets(), ns, desired);
    calls_.Count("create", "secrets", created.ok());
    if (!created.ok()) return MakeError("creating Secret " + ns + "/" + name + ": " + created.message());
    *wrote = true;
  } else {
    const json& md = At(*current, "metadata");
    if (Str(At(md, "labels"), api::kAgentLabel) != agent.LabelValue()) {
      return MakeError("Secret " + ns + "/" + name +
                       " exists and was not rendered by promsidecar-operator for " + agent.Ref() +
                       " (rename or delete it)");
    }
    const bool same = Str(At(md, "annotations"), render::kDataHashAnnotation) == hash &&
                      render::SecretData(*current) == render::SecretData(desired) &&
                      At(md, "labels") == At(At(desired, "metadata"), "labels");
    if (!same) {
      desired["metadata"]["resourceVersion"] = kube::ResourceVersion(*current);
      auto updated = client_.Update(kube::resources::Secrets(), desired);
      calls_.Count("update", "secrets", updated.ok());
      if (!updated.ok()) return MakeError("updating Secret " + ns + "/" + name + ": " + updated.message());
      *wrote = true;
    }
  }
  if (*wrote) {
    if (writes_) writes_->Inc();
    log::Info("rendered Secret written", {{"agent", agent.Ref()}, {"namespace", ns}, {"hash", hash}});
  }
  SetKnown(agent_key, ns, hash);
  return {};
}

Status SecretFanout::Remove(const std::string& agent_key, const api::Agent& agent,
                            const std::vector<std::string>& namespaces) {
  const std::string name = api::SharedConfigSecretName(agent);
  Status first_failure;
  for (const auto& ns : namespaces) {
    const auto known = Known(agent_key, ns);
    if (known && known->empty()) continue;
    if (!known) {
      // Unknown: read first, so a namespace that never had it costs no write.
      auto got = client_.Get(kube::resources::Secrets(), ns, name);
      calls_.Count("get", "secrets", got.ok() || kube::IsNotFound(got.error()));
      if (!got.ok()) {
        if (kube::IsNotFound(got.error())) {
          SetKnown(agent_key, ns, "");
          continue;
        }
        if (first_failure.ok())
          first_failure = MakeError("reading Secret " + ns + "/" + name + ": " + got.message());
        continue;
      }
      if (Str(At(At(*got, "metadata"), "labels"), api::kAgentLabel) != agent.LabelValue()) {
        SetKnown(agent_key, ns, "");  // not ours: never deleted
        continue;
      }
    }
    auto r = client_.Delete(kube::resources::Secrets(), ns, name);
    const bool ok = r.ok() || kube::IsNotFound(r.error());
    calls_.Count("delete", "secrets", ok);
    if (!ok) {
      if (first_failure.ok())
        first_failure = MakeError("deleting Secret " + ns + "/" + name + ": " + r.message());
      continue;
    }
    if (r.ok()) {
      if (writes_) writes_->Inc();
      log::Info("deleted rendered Secret", {{"namespace", ns}, {"name", name}});
    }
    SetKnown(agent_key, ns, "");
  }
  return first_failure;
}

}  // namespace promsidecar::controller
