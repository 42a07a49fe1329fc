#include "agent/remote_write/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>
#include <optional>
#include <string>

#include "agent/remote_write/auth.h"
#include "common/http/url.h"
#include "common/util/base64.h"

namespace promsidecar::remote_write {

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void Append(Slist& list, const std::string& line) {
  curl_slist* l = curl_slist_append(list.get(), line.c_str());
  if (l) {
    list.release();
    list.reset(l);
  }
}

struct ResponseCapture {
  std::string body;
  size_t max_body = 0;
  std::string retry_after;
  std::optional<uint64_t> samples_written, histograms_written, exemplars_written;
};

// The value of header `name` (lower case, with the colon) in `line`, or nullopt.
std::optional<std::string_view> HeaderValue(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return std::nullopt;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return std::nullopt;
  }
  auto v = line.substr(name.size());
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  return v;
}

std::optional<uint64_t> Count(std::string_view v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<ResponseCapture*>(user);
  size_t len = size * n;
  if (r->body.size() < r->max_body) r->body.append(data, std::min(len, r->max_body - r->body.size()));
  return len;  // the rest is read and ignored, so the connection stays reusable
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<ResponseCapture*>(user);
  std::string_view line(data, size * n);
  if (auto v = HeaderValue(line, "retry-after:")) r->retry_after.assign(*v);
  if (auto v = HeaderValue(line, "x-prometheus-remote-write-samples-written:"))
    r->samples_written = Count(*v);
  if (auto v = HeaderValue(line, "x-prometheus-remote-write-histograms-written:"))
    r->histograms_written = Count(*v);
  if (auto v = HeaderValue(line, "x-prometheus-remote-write-exemplars-written:"))
    r->exemplars_written = Count(*v);
  // A new status line (after 100 Continue, or a proxy CONNECT) starts over.
  if (line.starts_with("HTTP/")) {
    r->retry_after.clear();
    r->samples_written = r->histograms_written = r->exemplars_written = std::nullopt;
  }
  return size * n;
}

struct ServerNameOverride {
  std::string url;         // the URL with the host replaced by server_name
  std::string connect_to;  // "server_name:port:host:port"
  std::string host_header;
};

// curl verifies and sends SNI for the URL's host; to use tls server_name
// instead, the request goes to server_name and CONNECT_TO sends it to the
// real host. The Host header keeps the real host.
Result<ServerNameOverride> MakeServerNameOverride(const std::string& url, const std::string& server_name) {
  CURLU* u = curl_url();
  if (!u) return MakeError("out of memory");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> guard(u, &curl_url_cleanup);
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return MakeError("remote_write url \"" + http::RedactUrl(url) + "\" cannot be parsed");
  }
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
    curl_free(host);
    curl_free(port);
    return MakeError("remote_write url \"" + http::RedactUrl(url) + "\" has no host");
  }
  ServerNameOverride o;
  std::string h = host, p = port;
  curl_free(host);
  curl_free(port);
  o.connect_to = server_name + ":" + p + ":" + h + ":" + p;
  o.host_header = "Host: " + h;
  char* rewritten = nullptr;
  if (curl_url_set(u, CURLUPART_HOST, server_name.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u, CURLUPART_PORT, p.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_URL, &rewritten, 0) != CURLUE_OK) {
    return MakeError("tls_config server_name \"" + server_name + "\" is not a valid host name");
  }
  if (h.find(':') != std::string::npos) o.host_header = "Host: [" + h + "]";
  if (!(p == "80" || p == "443")) o.host_header += ":" + p;
  o.url = rewritten;
  curl_free(rewritten);
  return o;
}

}  // namespace

struct CurlTransport::Impl {
  TransportConfig config;
  CURL* curl = nullptr;
  CURL* token_curl = nullptr;
  std::optional<ServerNameOverride> server_name;
  std::optional<SecretReader> basic_password;
  std::optional<SecretReader> credentials;
  std::optional<SecretReader> client_secret;
  TokenCache tokens;
  char errbuf[CURL_ERROR_SIZE] = {};

  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
    if (token_curl) curl_easy_cleanup(token_curl);
  }

  std::string Where() const { return "remote_write " + http::RedactUrl(config.url); }

  // Options shared by the write and the token requests.
  void CommonOptions(CURL* c, std::chrono::milliseconds timeout) {
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROXY, config.proxy_url.c_str());  // "" = no proxy, not even from env
    const auto& tls = config.tls;
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!tls.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, tls.ca_file.c_str());
    if (!tls.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, tls.cert_file.c_str());
    if (!tls.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, tls.key_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls.insecure_skip_verify ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls.insecure_skip_verify ? 0L : 2L);
  }

  Result<HttpResult> Perform(CURL* c, const std::string& what) {
    errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      return MakeError(what + ": request failed: " + detail);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    HttpResult r;
    r.status = static_cast<int>(status);
    return r;
  }

  Result<std::string> FetchToken() {
    const auto& o = *config.oauth2;
    auto secret = client_secret->Get();
    if (!secret) return secret.error();
    if (!token_curl) token_curl = curl_easy_init();
    if (!token_curl) return MakeError("oauth2: cannot create an HTTP handle");
    CURL* c = token_curl;
    curl_easy_reset(c);
    CommonOptions(c, config.remote_timeout);
    curl_easy_setopt(c, CURLOPT_URL, o.token_url.c_str());
    std::string body = TokenRequestBody(o);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    Slist headers;
    Append(headers, "Content-Type: application/x-www-form-urlencoded");
    Append(headers, "Accept: application/json");
    // RFC 6749 2.3.1: client id and secret, form-encoded, as HTTP basic auth.
    Append(headers,
           "Authorization: Basic " + EncodeBase64(FormUrlEncode(o.client_id) + ":" + FormUrlEncode(*secret)));
    Append(headers, "User-Agent: " + config.user_agent);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    ResponseCapture resp;
    resp.max_body = 64 * 1024;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    std::string where = "oauth2 token_url " + http::RedactUrl(o.token_url);
    auto r = Perform(c, where);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    if (!r) return r.error();
    if (r->status < 200 || r->status >= 300) {
      return MakeError(where + ": token request answered HTTP " + std::to_string(r->status) +
                       "; check client_id, client_secret and token_url");
    }
    auto tok = ParseTokenResponse(resp.body);
    if (!tok) return MakeError(where + ": " + tok.message());
    tokens.Put(tok->access_token, tok->expires_in, std::chrono::steady_clock::now());
    return tok->access_token;
  }

  // The Authorization header line for this request ("" for none). A secret
  // with a line break would inject headers: refused, without quoting it.
  Result<std::string> AuthorizationHeader() {
    auto line = AuthorizationLine();
    if (line.ok() && line->find_first_of("\r\n") != std::string::npos) {
      return MakeError("the configured credentials contain a line break; fix the secret");
    }
    return line;
  }

  Result<std::string> AuthorizationLine() {
    if (config.basic_auth) {
      auto pw = basic_password->Get();
      if (!pw) return pw.error();
      return "Authorization: Basic " + EncodeBase64(config.basic_auth->username + ":" + *pw);
    }
    if (config.authorization) {
      auto cred = credentials->Get();
      if (!cred) return cred.error();
      return "Authorization: " + config.authorization->type + " " + *cred;
    }
    if (config.oauth2) {
      auto tok = tokens.Get(std::chrono::steady_clock::now());
      if (!tok) {
        auto fetched = FetchToken();
        if (!fetched) return fetched.error();
        tok = std::move(*fetched);
      }
      return "Authorization: Bearer " + *tok;
    }
    return std::string();
  }
};

CurlTransport::CurlTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CurlTransport::~CurlTransport() = default;

Result<std::unique_ptr<CurlTransport>> CurlTransport::Create(TransportConfig config) {
  if (auto st = ValidateTransportConfig(config); !st) return st.error();
  GlobalInit();
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const auto& c = impl->config;
  if (!c.tls.server_name.empty()) {
    auto o = MakeServerNameOverride(c.url, c.tls.server_name);
    if (!o) return o.error();
    impl->server_name = std::move(*o);
  }
  if (c.basic_auth) impl->basic_password.emplace(c.basic_auth->password, "basic_auth password_file");
  if (c.authorization)
    impl->credentials.emplace(c.authorization->credentials, "authorization credentials_file");
  if (c.oauth2) impl->client_secret.emplace(c.oauth2->client_secret, "oauth2 client_secret_file");
  impl->curl = curl_easy_init();
  if (!impl->curl) return MakeError("remote_write: cannot create an HTTP handle");
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

Result<HttpResult> CurlTransport::Post(const Request& request) {
  Impl& m = *impl_;
  auto auth = m.AuthorizationHeader();
  if (!auth) return MakeError(m.Where() + ": " + auth.message());

  CURL* c = m.curl;
  curl_easy_reset(c);  // keeps the connection cache
  auto timeout = request.timeout.count() > 0 ? std::min(request.timeout, m.config.remote_timeout)
                                             : m.config.remote_timeout;
  m.CommonOptions(c, timeout);
  curl_easy_setopt(c, CURLOPT_URL, m.server_name ? m.server_name->url.c_str() : m.config.url.c_str());
  Slist connect_to;
  if (m.server_name) {
    Append(connect_to, m.server_name->connect_to);
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
  }
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  // Never a null pointer: with POST and no data curl would read stdin.
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));

  Slist headers;
  for (const auto& [name, value] : m.config.headers) {
    if (!IsReservedHeader(name)) Append(headers, name + ": " + value);
  }
  Append(headers, "Content-Encoding: " + std::string(kContentEncoding));
  const bool v2 = request.message == MessageType::kV2;
  Append(headers, "Content-Type: " + std::string(v2 ? kContentTypeV2 : kContentType));
  Append(headers, "X-Prometheus-Remote-Write-Version: " +
                      std::string(v2 ? kRemoteWriteVersionV2 : kRemoteWriteVersion));
  Append(headers, "User-Agent: " + m.config.user_agent);
  Append(headers, "Expect:");  // no 100-continue round trip for large bodies
  if (m.server_name) Append(headers, m.server_name->host_header);
  if (!auth->empty()) Append(headers, *auth);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  ResponseCapture resp;
  resp.max_body = m.config.max_response_body;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);

  auto r = m.Perform(c, m.Where());
  // The lists die with this scope; leave no dangling pointers in the handle.
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_CONNECT_TO, nullptr);
  if (!r) return r;
  if (r->status == 401 && m.config.oauth2) m.tokens.Invalidate();
  r->retry_after = std::move(resp.retry_after);
  r->body = std::move(resp.body);
  r->samples_written = resp.samples_written;
  r->histograms_written = resp.histograms_written;
  r->exemplars_written = resp.exemplars_written;
  return r;
}

}  // namespace promsidecar::remote_write
