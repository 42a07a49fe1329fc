#include "cluster/cluster_env.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace promsidecar::testing {
namespace {

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read \"" + path + "\": " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string StringAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Result<std::map<std::string, std::string>> ParseEnvFile(std::string_view text) {
  std::map<std::string, std::string> out;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = Trim(line.substr(7));
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError("env file line " + std::to_string(line_no) + ": expected KEY=value, got \"" + line +
                       "\"");
    }
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      // Single quotes as scripts/cluster writes them: ' inside is '\''.
      std::string inner = value.substr(1, value.size() - 2);
      std::string unq;
      for (size_t i = 0; i < inner.size(); ++i) {
        if (inner.compare(i, 4, "'\\''") == 0) {
          unq += '\'';
          i += 3;
        } else {
          unq += inner[i];
        }
      }
      value = unq;
    } else if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    out[key] = value;
  }
  return out;
}

Result<ClusterEnv> ClusterEnv::LoadFile(const std::string& env_file) {
  auto text = ReadFile(env_file);
  if (!text) return MakeError("cluster env: " + text.message() + "; run scripts/cluster up");
  auto vars = ParseEnvFile(*text);
  if (!vars) return MakeError("cluster env \"" + env_file + "\": " + vars.message());
  auto get = [&](const char* k) {
    auto it = vars->find(k);
    return it == vars->end() ? std::string() : it->second;
  };
  ClusterEnv env;
  env.kubeconfig = get("KUBECONFIG");
  env.apiserver_url = get("APISERVER_URL");
  env.audit_log = get("AUDIT_LOG");
  env.ca_file = get("CLUSTER_CA");
  env.admin_cert = get("ADMIN_CERT");
  env.admin_key = get("ADMIN_KEY");
  env.kubectl = get("KUBECTL");
  env.state_dir = get("CLUSTER_STATE_DIR");
  env.kubernetes_version = get("KUBERNETES_VERSION");
  env.service_account_plugin = get("SERVICE_ACCOUNT_PLUGIN") != "0";
  env.has_node = get("CLUSTER_MODE") == "node";
  env.node_name = get("NODE_NAME");
  env.node_ip = get("NODE_IP");
  env.pod_subnet = get("POD_SUBNET");
  env.containerd_address = get("CONTAINERD_ADDRESS");
  env.crictl = get("CRICTL");
  if (env.kubeconfig.empty() || env.apiserver_url.empty() || env.kubectl.empty()) {
    return MakeError("cluster env \"" + env_file +
                     "\" lacks KUBECONFIG, APISERVER_URL or KUBECTL; recreate it with scripts/cluster up");
  }
  return env;
}

Result<ClusterEnv> ClusterEnv::Load() {
  std::vector<std::string> tried;
  if (std::string f = Getenv("PROMSIDECAR_CLUSTER_ENV"); !f.empty()) return LoadFile(f);
  if (std::string d = Getenv("PROMSIDECAR_CLUSTER_DIR"); !d.empty()) return LoadFile(d + "/env");
#ifdef PROMSIDECAR_CLUSTER_FIXTURE_DIR
  {
    std::string f = std::string(PROMSIDECAR_CLUSTER_FIXTURE_DIR) + "/env";
    if (FileExists(f)) return LoadFile(f);
    tried.push_back(f);
  }
#endif
  if (std::string kc = Getenv("KUBECONFIG"); !kc.empty()) {
    ClusterEnv env;
    env.kubeconfig = kc;
    env.kubectl = Getenv("KUBECTL").empty() ? "kubectl" : Getenv("KUBECTL");
    if (auto text = ReadFile(kc)) {
      std::istringstream in(*text);
      for (std::string line; std::getline(in, line);) {
        std::string t = Trim(line);
        if (t.rfind("server:", 0) == 0) {
          env.apiserver_url = Trim(t.substr(7));
          break;
        }
      }
    }
    return env;
  }
  tried.push_back("$KUBECONFIG");
#ifdef PROMSIDECAR_SOURCE_ROOT
  {
    std::string f = std::string(PROMSIDECAR_SOURCE_ROOT) + "/build/cluster/env";
    if (FileExists(f)) return LoadFile(f);
    tried.push_back(f);
  }
#endif
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return MakeError("no test control plane found (tried " + list +
                   "); run the test through ctest (fixture `cluster`) or start one with scripts/cluster up");
}

Status EnsureDefaultServiceAccount(const ClusterEnv& env, const std::string& ns,
                                   std::chrono::milliseconds timeout) {
  if (env.has_node) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto r = Kubectl(env, {"get", "serviceaccount", "default", "-n", ns, "-o", "name"});
      if (r.ok()) return {};
      if (std::chrono::steady_clock::now() >= deadline) {
        return MakeError("namespace " + ns + " got no `default` ServiceAccount within " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                         " s (is the controller-manager running? scripts/cluster status): " + r.err);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (!env.service_account_plugin) return {};
  auto r = Kubectl(env, {"create", "serviceaccount", "default", "-n", ns});
  if (!r.ok() && r.err.find("AlreadyExists") == std::string::npos) {
    return MakeError("creating the `default` ServiceAccount in namespace " + ns + ": " + r.err);
  }
  return {};
}

CommandOutput RunCapturingOutput(const std::vector<std::string>& argv, const std::string& stdin_data,
                                 std::chrono::milliseconds timeout) {
  CommandOutput result;
  if (argv.empty()) {
    result.err = "RunCapturingOutput: empty argv";
    return result;
  }
  // Writing stdin to a child that already exited must be an error, not a
  // SIGPIPE that kills the test.
  signal(SIGPIPE, SIG_IGN);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2], exec_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(exec_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  pid_t pid = fork();
  if (pid < 0) {
    result.err = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execvp(cargv[0], cargv.data());
    int e = errno;
    ssize_t ignored = write(exec_pipe[1], &e, sizeof(e));
    (void)ignored;
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(exec_pipe[1]);

  int exec_errno = 0;
  if (read(exec_pipe[0], &exec_errno, sizeof(exec_errno)) == static_cast<ssize_t>(sizeof(exec_errno))) {
    result.err = "cannot run " + argv[0] + ": " + std::strerror(exec_errno);
  }
  close(exec_pipe[0]);

  fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
  int in_fd = in_pipe[1];
  size_t written = 0;
  if (stdin_data.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (out_fd >= 0 || err_fd >= 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    int r = poll(fds, n, static_cast<int>(std::min<long>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) written = stdin_data.size();
        if (written >= stdin_data.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[8192];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      std::string& sink = fds[i].fd == out_fd ? result.out : result.err;
      if (got > 0) {
        sink.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    result.exit_code = -1;
    result.err += "\n(killed after " + std::to_string(timeout.count()) + " ms)";
  } else if (exec_errno != 0) {
    result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

CommandOutput Kubectl(const ClusterEnv& env, const std::vector<std::string>& args,
                      const std::string& stdin_data, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{env.kubectl, "--kubeconfig", env.kubeconfig};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCapturingOutput(argv, stdin_data, timeout);
}

std::optional<AuditEvent> ParseAuditLine(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || StringAt(j, "kind") != "Event") return std::nullopt;
  AuditEvent e;
  e.audit_id = StringAt(j, "auditID");
  e.stage = StringAt(j, "stage");
  e.verb = StringAt(j, "verb");
  e.request_uri = StringAt(j, "requestURI");
  e.user_agent = StringAt(j, "userAgent");
  if (auto u = j.find("user"); u != j.end() && u->is_object()) e.user = StringAt(*u, "username");
  if (auto o = j.find("objectRef"); o != j.end() && o->is_object()) {
    e.api_group = StringAt(*o, "apiGroup");
    e.resource = StringAt(*o, "resource");
    e.subresource = StringAt(*o, "subresource");
    e.namespace_ = StringAt(*o, "namespace");
    e.name = StringAt(*o, "name");
  }
  if (auto s = j.find("responseStatus"); s != j.end() && s->is_object()) {
    if (auto c = s->find("code"); c != s->end() && c->is_number_integer()) e.code = c->get<int>();
  }
  if (e.audit_id.empty() || e.verb.empty()) return std::nullopt;
  return e;
}

bool Matches(const AuditEvent& e, const AuditFilter& f) {
  auto ok = [](const std::string& want, const std::string& have) { return want.empty() || want == have; };
  return ok(f.verb, e.verb) && ok(f.resource, e.resource) && ok(f.namespace_, e.namespace_) &&
         ok(f.user, e.user) && ok(f.name, e.name) && ok(f.subresource, e.subresource) &&
         ok(f.api_group, e.api_group);
}

int CountDistinct(const std::vector<AuditEvent>& events, const AuditFilter& filter) {
  std::set<std::string> ids;
  for (const auto& e : events) {
    if (Matches(e, filter)) ids.insert(e.audit_id);
  }
  return static_cast<int>(ids.size());
}

AuditLog::Position AuditLog::Mark() const {
  std::ifstream in(path_, std::ios::binary | std::ios::ate);
  if (!in) return 0;
  auto size = static_cast<std::uint64_t>(in.tellg());
  // Back up to the last line end, in case a line is being written.
  const std::uint64_t window = std::min<std::uint64_t>(size, 1 << 16);
  std::string tail(window, '\0');
  in.seekg(static_cast<std::streamoff>(size - window));
  in.read(tail.data(), static_cast<std::streamsize>(window));
  size_t nl = tail.rfind('\n');
  return nl == std::string::npos ? size - window : size - window + nl + 1;
}

std::vector<AuditEvent> AuditLog::EventsSince(Position since) const {
  std::vector<AuditEvent> out;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(since));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  for (size_t nl; (nl = data.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    if (auto e = ParseAuditLine(std::string_view(data).substr(pos, nl - pos))) out.push_back(std::move(*e));
  }
  return out;
}

int AuditLog::Count(const AuditFilter& filter, Position since) const {
  return CountDistinct(EventsSince(since), filter);
}

int AuditLog::WaitForCount(const AuditFilter& filter, Position since, int at_least,
                           std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int n = Count(filter, since);
    if (n >= at_least || std::chrono::steady_clock::now() >= deadline) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace promsidecar::testing
