#include "testing/slow_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace promsidecar::testing {

TrickleOutcome Trickle(int port, const std::string& head, const std::string& tail,
                       std::promise<void>* head_sent, std::chrono::seconds give_up) {
  const auto start = std::chrono::steady_clock::now();
  TrickleOutcome out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ok = ok && (head.empty() || ::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == ssize_t(head.size()));
  if (head_sent) head_sent->set_value();
  char buf[4096];
  while (ok && std::chrono::steady_clock::now() - start < give_up) {
    if (out.tail_sent < tail.size()) {
      if (::send(fd, tail.data() + out.tail_sent, 1, MSG_NOSIGNAL) != 1) {
        out.closed_by_server = true;  // EPIPE / ECONNRESET; an answer may precede it
        for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0;)
          out.answer.append(buf, std::size_t(n));
        break;
      }
      ++out.tail_sent;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      out.closed_by_server = true;
      break;
    }
    out.answer.append(buf, std::size_t(n));
  }
  if (fd >= 0) ::close(fd);
  out.took = std::chrono::steady_clock::now() - start;
  return out;
}

}  // namespace promsidecar::testing
