#include "testing/serve.h"

#include <httplib.h>

#include <chrono>
#include <stdexcept>

#include "testing/subprocess.h"

namespace promsidecar::testing {

std::thread ServeInBackground(httplib::Server& server) {
  std::thread thread([&server] { server.listen_after_bind(); });
  if (!PollUntil(
          std::chrono::seconds(30), [&server] { return server.is_running(); },
          std::chrono::milliseconds(1))) {
    server.stop();
    thread.join();
    throw std::runtime_error("test server: not listening after 30 s");
  }
  return thread;
}

}  // namespace promsidecar::testing
