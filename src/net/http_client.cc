#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>

namespace coffer::net {
namespace {

Status InvalidEndpoint(std::string_view url) {
  return Status(StatusCode::kInvalidArgument, std::string(kInvalidEndpoint),
                "Invalid endpoint: " + std::string(url));
}

bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool IsIpv6Char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Quoted(const std::string& url) { return "\"" + url + "\""; }

// curl_global_init is not thread-safe; it runs once, before the first handle.
CURLcode GlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return result;
}

struct ResponseState {
  HttpResponse response;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ResponseState*>(user);
  size_t n = size * count;
  if (state->response.body.size() + n > state->max_bytes) {
    state->too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  state->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<ResponseState*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new response head (after a 100 Continue): forget the previous one.
    state->response.headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  state->response.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

}  // namespace

Result<Endpoint> Endpoint::Parse(std::string_view url) {
  Endpoint e;
  e.url = std::string(url);
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return InvalidEndpoint(url);
  e.scheme = Lower(url.substr(0, sep));
  int default_port;
  if (e.scheme == "http") {
    default_port = 80;
  } else if (e.scheme == "https") {
    default_port = 443;
  } else {
    return InvalidEndpoint(url);
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) return InvalidEndpoint(url);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return InvalidEndpoint(url);

  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return InvalidEndpoint(url);
    std::string_view address = authority.substr(1, close - 1);
    if (!std::all_of(address.begin(), address.end(), IsIpv6Char)) return InvalidEndpoint(url);
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidEndpoint(url);
      port_text = after.substr(1);
      if (port_text.empty()) return InvalidEndpoint(url);
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return InvalidEndpoint(url);
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsHostChar)) {
      return InvalidEndpoint(url);
    }
  }
  e.host = Lower(host);
  e.port = default_port;
  if (!port_text.empty()) {
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      return InvalidEndpoint(url);
    }
    e.port = port;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return InvalidEndpoint(url);
  }
  e.path = path.empty() ? "/" : std::string(path);
  return e;
}

std::string Endpoint::HostHeader() const {
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string Endpoint::UrlFor(std::string_view target) const {
  return scheme + "://" + host + ":" + std::to_string(port) + std::string(target);
}

struct HttpClient::Impl {
  HttpClientOptions options;
  CURL* curl = nullptr;
  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  if (CURLcode rc = GlobalInit(); rc != CURLE_OK) {
    return InternalError(std::string("libcurl could not start: ") + curl_easy_strerror(rc));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->curl = curl_easy_init();
  if (impl->curl == nullptr) return InternalError("libcurl could not create a handle");
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Send(const Endpoint& endpoint, const HttpRequest& request) {
  CURL* curl = impl_->curl;
  const HttpClientOptions& opt = impl_->options;
  curl_easy_reset(curl);  // keeps the connection cache, forgets the last request's options

  std::string url = endpoint.UrlFor(request.target);
  // What the aws CLI names in its messages: the URL without the default port.
  std::string shown_url = endpoint.scheme + "://" + endpoint.HostHeader() + request.target;

  // Exactly the caller's headers: nothing curl would add on its own (Accept,
  // Expect: 100-continue, a default Content-Type) and nothing it would rewrite.
  Slist headers;
  auto add_header = [&headers](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    headers.release();
    headers.reset(next);
    return true;
  };
  bool ok = true;
  for (const HttpHeader& h : request.headers) {
    if (h.name.find_first_of(":\r\n") != std::string::npos ||
        h.value.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgumentError("HTTP header '" + h.name + "' is not valid on the wire");
    }
    // "Name;" sends a header with an empty value; "Name:" would remove it.
    ok = ok && add_header(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
  }
  auto has = [&request](std::string_view name) { return request.Header(name).has_value(); };
  if (!has("Accept")) ok = ok && add_header("Accept:");
  if (!has("Expect")) ok = ok && add_header("Expect:");
  if (!has("Content-Type")) ok = ok && add_header("Content-Type:");
  if (!ok) return InternalError("libcurl could not allocate the request headers");

  ResponseState state;
  state.max_bytes = opt.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  // The target goes out as given: curl would otherwise squash "/../" and "/./",
  // which are part of S3 keys (and of what the signature covers).
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!opt.proxy_from_environment) curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt.connect_timeout.count()));
  // libcurl has no read timeout: a transfer slower than 1 byte/s for this long
  // is one. The granularity is a second.
  long stall_seconds =
      std::max<long>(1, static_cast<long>((opt.read_timeout.count() + 999) / 1000));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, stall_seconds);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, opt.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, opt.verify_tls ? 2L : 0L);
  if (!opt.ca_bundle.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, opt.ca_bundle.c_str());

  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);

  CURLcode rc = curl_easy_perform(curl);
  // The handle must not keep pointers to this call's buffers.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);

  if (rc != CURLE_OK) {
    if (state.too_large) {
      return Status(StatusCode::kResourceExhausted,
                    "The response from endpoint URL: " + Quoted(shown_url) + " is larger than " +
                        std::to_string(opt.max_response_bytes) + " bytes");
    }
    std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return UnavailableError("Could not connect to the endpoint URL: " + Quoted(shown_url));
      case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_time = 0;
        curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_time);
        if (connect_time == 0) {
          return UnavailableError("Connect timeout on endpoint URL: " + Quoted(shown_url));
        }
        return UnavailableError("Read timeout on endpoint URL: " + Quoted(shown_url));
      }
      case CURLE_GOT_NOTHING:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
      case CURLE_WEIRD_SERVER_REPLY:
        return UnavailableError(
            "Connection was closed before we received a valid response from endpoint URL: " +
            Quoted(shown_url) + ".");
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ISSUER_ERROR:
        return UnavailableError("SSL validation failed for " + shown_url + " " + detail);
      default:
        return UnavailableError("The request to endpoint URL: " + Quoted(shown_url) +
                                " failed: " + detail);
    }
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  state.response.status = static_cast<int>(status);
  return std::move(state.response);
}

}  // namespace coffer::net
