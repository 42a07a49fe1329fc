#include "testing/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace promsidecar::testing {
namespace {

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// fork+exec with stdout/stderr to `out_fd` and stdin from `in_fd` (-1: /dev/null).
pid_t Spawn(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
            const std::string& cwd, int out_fd, int in_fd) {
  if (argv.empty()) throw std::invalid_argument("Spawn: empty argv");
  auto envs = MergedEnv(env);
  auto c_argv = CStrings(argv);
  auto c_env = CStrings(envs);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);  // own process group: a signal to the test runner's group does not hit it twice
    // A parent that waits for signals with sigwait blocks them; the child
    // must not inherit that, or it would ignore SIGTERM.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = open("/dev/null", O_RDWR);
    dup2(in_fd >= 0 ? in_fd : devnull, 0);
    dup2(out_fd >= 0 ? out_fd : devnull, 1);
    dup2(out_fd >= 0 ? out_fd : devnull, 2);
    // Nothing of the test process leaks into the child (a listening socket
    // inherited by the child would keep its port busy).
    close_range(3, ~0U, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    environ = c_env.data();
    execvp(c_argv[0], c_argv.data());
    dprintf(2, "exec %s: %s\n", c_argv[0], std::strerror(errno));
    _exit(127);
  }
  return pid;
}

}  // namespace

Subprocess::Subprocess(ProcessOptions options) : options_(std::move(options)) {
  int fd = -1;
  if (!options_.log_file.empty()) {
    fd = open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("open " + options_.log_file + ": " + std::strerror(errno));
  }
  pid_ = Spawn(options_.argv, options_.env, options_.cwd, fd, -1);
  if (fd >= 0) close(fd);
}

Subprocess::~Subprocess() {
  if (Running()) {
    kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

bool Subprocess::Running() {
  if (status_ || pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = DecodeStatus(status);
    return false;
  }
  return r == 0;
}

void Subprocess::Signal(int sig) {
  if (Running()) kill(pid_, sig);
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

int Subprocess::Stop(std::chrono::milliseconds grace) {
  Signal(SIGTERM);
  if (auto s = Wait(grace)) return *s;
  Signal(SIGKILL);
  return Wait(std::chrono::seconds(10)).value_or(-1);
}

std::string Subprocess::Log() const {
  return options_.log_file.empty() ? "" : ReadFile(options_.log_file);
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_data,
                         std::chrono::milliseconds timeout, const std::map<std::string, std::string>& env) {
  TempDir dir;
  std::string out_path = dir.Join("out");
  std::string in_path = dir.Join("in");
  WriteFile(in_path, stdin_data);
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int in_fd = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  pid_t pid = Spawn(argv, env, "", out_fd, in_fd);
  close(out_fd);
  close(in_fd);
  CommandResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result.exit_code = DecodeStatus(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.exit_code = -1;
      result.output = "timed out after " + std::to_string(timeout.count()) + " ms\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.output += ReadFile(out_path);
  return result;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("FreePort: bind failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool PollUntil(std::chrono::milliseconds deadline, const std::function<bool()>& fn,
               std::chrono::milliseconds every) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (fn()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("write " + path + " failed");
}

}  // namespace promsidecar::testing
