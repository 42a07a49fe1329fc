#include "hostile_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace promsidecar::testing {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

const char kHeaders[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n";

}  // namespace

const char* HostilityName(Hostility h) {
  switch (h) {
    case Hostility::kNeverAnswers: return "never_answers";
    case Hostility::kOneBytePerSecond: return "one_byte_per_second";
    case Hostility::kOneGiB: return "one_gib";
    case Hostility::kGzipBomb: return "gzip_bomb";
    case Hostility::kTenMillionSeries: return "ten_million_series";
    case Hostility::kClosesMidBody: return "closes_mid_body";
  }
  return "?";
}

const std::string& GzipBomb() {
  // Deflating 2 GiB would take a minute; instead one 1 MiB block is deflated
  // after a full flush (which resets the compressor's history, so its
  // compressed form is the same every time) and repeated; the gzip trailer is
  // computed for the whole 2 GiB with crc32_combine.
  static const std::string bomb = [] {
    std::string block;
    while (block.size() < (1u << 20)) block += "bomb 1\n";
    block.resize(1u << 20);
    z_stream z{};
    // windowBits 15 + 16: a gzip wrapper, as Content-Encoding: gzip needs.
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("deflateInit2 failed");
    }
    auto run = [&z](const std::string& in, int flush) {
      std::string out;
      std::string buf(1 << 16, '\0');
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      z.avail_in = static_cast<uInt>(in.size());
      do {
        z.next_out = reinterpret_cast<Bytef*>(buf.data());
        z.avail_out = static_cast<uInt>(buf.size());
        deflate(&z, flush);
        out.append(buf.data(), buf.size() - z.avail_out);
      } while (z.avail_out == 0);
      return out;
    };
    std::string head_and_first = run(block, Z_FULL_FLUSH);  // gzip header + block
    std::string repeat = run(block, Z_FULL_FLUSH);          // block alone
    std::string finish = run("", Z_FINISH);                 // final empty block + trailer
    deflateEnd(&z);
    const uint64_t blocks = (2 * kGiB) / block.size();
    std::string out = head_and_first;
    out.reserve(out.size() + (blocks - 1) * repeat.size() + finish.size());
    for (uint64_t i = 1; i < blocks; ++i) out += repeat;
    out.append(finish, 0, finish.size() - 8);
    uLong one = crc32(0, reinterpret_cast<const Bytef*>(block.data()), static_cast<uInt>(block.size()));
    uLong crc = one;
    for (uint64_t i = 1; i < blocks; ++i) crc = crc32_combine(crc, one, static_cast<z_off_t>(block.size()));
    uint32_t isize = static_cast<uint32_t>((blocks * block.size()) & 0xffffffffu);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xff);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((isize >> (8 * i)) & 0xff);
    return out;
  }();
  return bomb;
}

HostileTarget::HostileTarget(Hostility how) : how_(how) {
  if (how_ == Hostility::kGzipBomb) (void)GzipBomb();
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error(std::string("hostile target: bind/listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

HostileTarget::~HostileTarget() {
  stop_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  for (int fd : fds_) ::close(fd);
}

void HostileTarget::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

bool HostileTarget::Send(int fd, const char* data, size_t n) {
  while (n > 0) {
    if (stop_) return false;
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return false;  // the agent gave up on us (the point of most cases)
    }
    bytes_sent_ += static_cast<uint64_t>(w);
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void HostileTarget::Serve(int fd) {
  // Read the request head (the agent sends a GET without a body).
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && !stop_) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return;
    req.append(buf, static_cast<size_t>(r));
  }
  auto sleep_unless_stopped = [this](std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  switch (how_) {
    case Hostility::kNeverAnswers:
      // Hold the connection; the agent must give up on its own.
      while (!stop_) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0) return;
      }
      return;
    case Hostility::kOneBytePerSecond: {
      if (!Send(fd, kHeaders, sizeof kHeaders - 1)) return;
      std::string body = "# HELP slow a page that never ends\n";
      for (size_t i = 0; !stop_; ++i) {
        if (!Send(fd, &body[i % body.size()], 1)) return;
        sleep_unless_stopped(std::chrono::seconds(1));
      }
      return;
    }
    case Hostility::kOneGiB: {
      if (!Send(fd, kHeaders, sizeof kHeaders - 1)) return;
      std::string chunk;
      while (chunk.size() < (1u << 16)) chunk += "# " + std::string(1021, 'x') + "\n";
      for (uint64_t sent = 0; sent < kGiB; sent += chunk.size()) {
        if (!Send(fd, chunk.data(), chunk.size())) return;
      }
      return;
    }
    case Hostility::kGzipBomb: {
      const std::string& bomb = GzipBomb();
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Encoding: gzip\r\n"
          "Content-Length: " +
          std::to_string(bomb.size()) + "\r\nConnection: close\r\n\r\n";
      if (!Send(fd, head.data(), head.size())) return;
      Send(fd, bomb.data(), bomb.size());
      return;
    }
    case Hostility::kTenMillionSeries: {
      if (!Send(fd, kHeaders, sizeof kHeaders - 1)) return;
      std::string chunk;
      constexpr uint64_t kSeries = 10'000'000;
      for (uint64_t i = 0; i < kSeries; ++i) {
        chunk += "many_series{i=\"" + std::to_string(i) + "\"} 1\n";
        if (chunk.size() >= (1u << 16)) {
          if (!Send(fd, chunk.data(), chunk.size())) return;
          chunk.clear();
        }
      }
      Send(fd, chunk.data(), chunk.size());
      return;
    }
    case Hostility::kClosesMidBody: {
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 1000000\r\n\r\n";
      std::string body;
      for (int i = 0; body.size() < 100; ++i) body += "cut_short{i=\"" + std::to_string(i) + "\"} 1\n";
      body.resize(100);
      if (!Send(fd, head.data(), head.size()) || !Send(fd, body.data(), body.size())) return;
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
  }
}

}  // namespace promsidecar::testing
