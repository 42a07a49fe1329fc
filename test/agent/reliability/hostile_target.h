// A scrape target that misbehaves on purpose, written on raw sockets so that
// it can hang, trickle, stream without end or cut a response short (an HTTP
// library would not let it). Every accepted connection counts as one scrape
// attempt, so a test can see that the agent keeps scraping at its interval.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace promsidecar::testing {

enum class Hostility {
  kNeverAnswers,      // reads the request, then holds the connection silently
  kOneBytePerSecond,  // valid headers, then the body one byte a second
  kOneGiB,            // 1 GiB of valid exposition lines, streamed, no Content-Length
  kGzipBomb,          // ~2 MiB gzip (Content-Encoding: gzip) inflating to 2 GiB
  kTenMillionSeries,  // 10 million distinct series, generated while sending
  kClosesMidBody,     // Content-Length: 1000000, 100 bytes sent, then close
};

const char* HostilityName(Hostility h);

class HostileTarget {
 public:
  explicit HostileTarget(Hostility how);
  ~HostileTarget();
  HostileTarget(const HostileTarget&) = delete;
  HostileTarget& operator=(const HostileTarget&) = delete;

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint64_t connections() const { return connections_; }
  // Bytes written to all connections so far (what the agent had to cope with).
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  void AcceptLoop();
  void Serve(int fd);
  bool Send(int fd, const char* data, size_t n);

  Hostility how_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
};

// The gzip bomb's compressed body (computed once): 2 GiB of a repeated
// exposition line, deflated.
const std::string& GzipBomb();

}  // namespace promsidecar::testing
