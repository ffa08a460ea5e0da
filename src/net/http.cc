#include "net/http.h"

#include <algorithm>
#include <cctype>

namespace coffer::net {

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  // ASCII only (field names are tokens), without the C locale's tolower.
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

std::string_view HttpRequest::Path() const {
  std::string_view t = target;
  t = t.substr(0, t.find('?'));
  // The absolute-form ("http://host:port/path", RFC 9112 §3.2.2, which a server
  // MUST accept): the path is what follows the authority, "/" when nothing does.
  size_t scheme_end = t.find("://");
  if (scheme_end != std::string_view::npos &&
      (HeaderNameEquals(t.substr(0, scheme_end), "http") ||
       HeaderNameEquals(t.substr(0, scheme_end), "https"))) {
    size_t slash = t.find('/', scheme_end + 3);
    return slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  return t;
}

std::string_view HttpRequest::Query() const {
  std::string_view t = target;
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::optional<std::string_view> HttpRequest::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (HeaderNameEquals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

void HttpResponse::SetHeader(std::string_view name, std::string_view value) {
  for (auto& h : headers) {
    if (HeaderNameEquals(h.name, name)) {
      h.value = std::string(value);
      return;
    }
  }
  headers.push_back({std::string(name), std::string(value)});
}

std::optional<std::string_view> HttpResponse::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (HeaderNameEquals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace coffer::net
