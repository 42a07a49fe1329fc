#include "common/http/client.h"

#include <curl/curl.h>
#include <strings.h>

#include <cstdlib>
#include <memory>
#include <mutex>

namespace promsidecar::http {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) std::abort();  // broken environment
  });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// State shared with the libcurl callbacks for one transfer.
struct Transfer {
  CURL* curl = nullptr;
  const Request* request = nullptr;
  Response* response = nullptr;
  bool body_too_large = false;
  bool aborted = false;
  bool streaming_decided = false;
  bool streaming = false;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: an interim (1xx) or redirect response ended.
    t->response->headers.Clear();
    return line.size();
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers.Add(std::string(Trim(line.substr(0, colon))),
                             std::string(Trim(line.substr(colon + 1))));
  }
  return line.size();
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (!t->streaming_decided) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->streaming = t->request->on_chunk && status >= 200 && status < 300;
    t->streaming_decided = true;
  }
  if (t->streaming) {
    if (!t->request->on_chunk(std::string_view(data, n))) {
      t->aborted = true;
      return CURL_WRITEFUNC_ERROR;
    }
    return n;
  }
  std::string& body = t->response->body;
  size_t limit = t->request->max_body_bytes;
  if (limit != 0 && body.size() + n > limit) {
    t->body_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  body.append(data, n);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->request->should_abort && t->request->should_abort()) {
    t->aborted = true;
    return 1;
  }
  return 0;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

void SetBlob(CURL* curl, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(curl, option, &blob);
}

FailureKind Classify(CURLcode code, CURL* curl, const Transfer& t) {
  if (t.body_too_large) return FailureKind::kBodyTooLarge;
  if (t.aborted || code == CURLE_ABORTED_BY_CALLBACK) return FailureKind::kAborted;
  curl_off_t pretransfer = 0;
  curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE: return FailureKind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      // Nothing was sent if the transfer never got past connecting.
      return pretransfer == 0 ? FailureKind::kConnect : FailureKind::kTimeout;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return FailureKind::kConnectionLost;
    default: return FailureKind::kOther;
  }
}

}  // namespace

void Headers::Set(std::string name, std::string value) {
  std::erase_if(entries_, [&](const auto& e) { return EqualsIgnoreCase(e.first, name); });
  entries_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> Headers::Get(std::string_view name) const {
  for (const auto& [k, v] : entries_) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Headers::GetAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) {
    if (EqualsIgnoreCase(k, name)) out.push_back(v);
  }
  return out;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  GlobalInitOnce();
  curl_ = curl_easy_init();
  if (curl_ == nullptr) std::abort();  // out of memory
}

Client::~Client() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<Response> Client::Do(const Request& request, FailureKind* failure) {
  CURL* curl = static_cast<CURL*>(curl_);
  // Reset clears every option but keeps the connection and TLS session caches.
  curl_easy_reset(curl);

  Response response;
  Transfer transfer{curl, &request, &response};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  if (request.connect_only) curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, options_.proxy_url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  auto connect_timeout =
      request.connect_timeout.count() > 0 ? request.connect_timeout : options_.connect_timeout;
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  // gzip only, as Prometheus asks: "" would offer every encoding libcurl
  // decodes (br, zstd...), and a target compressing a large page with brotli
  // at its default quality takes seconds longer than the scrape timeout.
  if (request.decode_gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");

  // TLS.
  const TlsOptions& tls = options_.tls;
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (tls.insecure_skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!tls.ca_pem.empty()) {
    SetBlob(curl, CURLOPT_CAINFO_BLOB, tls.ca_pem);
  } else if (!tls.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  }
  if (!tls.cert_pem.empty()) {
    SetBlob(curl, CURLOPT_SSLCERT_BLOB, tls.cert_pem);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.cert_file.c_str());
  }
  if (!tls.key_pem.empty()) {
    SetBlob(curl, CURLOPT_SSLKEY_BLOB, tls.key_pem);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls.key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.key_file.c_str());
  }

  // Method and body.
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  bool has_body = !request.body.empty() || request.method == "POST" || request.method == "PUT" ||
                  request.method == "PATCH";
  if (has_body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  }

  // Headers. curl would add its own Content-Type for a body and an Expect:
  // 100-continue round trip for large ones; neither is wanted.
  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(header_list.get(), line.c_str());
    if (next == nullptr) std::abort();  // out of memory
    header_list.release();
    header_list.reset(next);
  };
  for (const auto& [name, value] : request.headers.entries()) {
    append(value.empty() ? name + ";" : name + ": " + value);
  }
  if (has_body && !request.headers.Has("Content-Type")) append("Content-Type:");
  append("Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());

  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  if (request.should_abort) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  }

  CURLcode code = curl_easy_perform(curl);
  // The options point into this frame; drop them before returning.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  if (code != CURLE_OK) {
    FailureKind kind = Classify(code, curl, transfer);
    if (failure != nullptr) *failure = kind;
    std::string prefix = request.method + " " + RedactUrl(request.url) + ": ";
    switch (kind) {
      case FailureKind::kBodyTooLarge:
        return MakeError(prefix + "response body exceeds the limit of " +
                         std::to_string(request.max_body_bytes) + " bytes");
      case FailureKind::kAborted: return MakeError(prefix + "request aborted by the caller");
      default: {
        std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(code);
        return MakeError(prefix + detail);
      }
    }
  }
  if (failure != nullptr) *failure = FailureKind::kNone;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace promsidecar::http
