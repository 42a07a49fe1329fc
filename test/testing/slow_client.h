// A client that sends its request a byte at a time, for tests of a server's
// request deadline: raw TCP, so it can trickle any phase (a request line, a
// header, a body, or a TLS handshake record).
#pragma once

#include <chrono>
#include <cstddef>
#include <future>
#include <string>

namespace promsidecar::testing {

// What the slow client saw: the server's bytes, how much of `tail` it got to
// send, and whether the server closed the connection (rather than the client
// giving up).
struct TrickleOutcome {
  std::string answer;
  std::size_t tail_sent = 0;
  bool closed_by_server = false;
  std::chrono::steady_clock::duration took{};
};

// Connects to 127.0.0.1:`port`, sends `head` at once (then fulfils
// `head_sent`), then `tail` a byte every 200 ms, reading what the server
// answers meanwhile; once `tail` is sent it only reads. Ends when the server
// closes the connection or after `give_up`.
TrickleOutcome Trickle(int port, const std::string& head, const std::string& tail,
                       std::promise<void>* head_sent = nullptr,
                       std::chrono::seconds give_up = std::chrono::seconds(60));

}  // namespace promsidecar::testing
