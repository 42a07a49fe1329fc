#pragma once

#include <thread>

namespace httplib {
class Server;
}

namespace promsidecar::testing {

// Serves a bound `server` on the returned thread and returns once its accept
// loop runs: httplib's stop() is a no-op before that, so a test that stops a
// server right after starting it would otherwise wait in join() forever.
// Throws std::runtime_error when the server is not listening after 30 s.
std::thread ServeInBackground(httplib::Server& server);

}  // namespace promsidecar::testing
