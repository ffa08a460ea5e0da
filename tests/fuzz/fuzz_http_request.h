#pragma once
// The request format of the SigV4 fuzz targets: an HTTP/1.1 request in text,
// which keeps the seeds readable and lets the dictionaries speak HTTP.
//
//   METHOD SP PATH[?QUERY] LF
//   (NAME ':' VALUE LF)*          header lines; VALUE as sent (SigV4 trims it)
//   LF
//   BODY                          everything after the first empty line
//
// Lines end at LF only; a CR stays part of the line. A header line without ':'
// is a header with an empty value.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "net/sigv4.h"

namespace coffer::fuzz {

class TextRequest {
 public:
  std::string method;
  std::string path;
  std::string query;
  std::vector<net::sigv4::Header> headers;
  std::string body;

  static TextRequest Parse(std::string_view text) {
    TextRequest r;
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    size_t space = line.find(' ');
    r.method = std::string(line.substr(0, space));
    if (space != std::string_view::npos) {
      std::string_view target = line.substr(space + 1);
      size_t question = target.find('?');
      r.path = std::string(target.substr(0, question));
      if (question != std::string_view::npos) r.query = std::string(target.substr(question + 1));
    }
    while (!text.empty()) {
      eol = text.find('\n');
      line = text.substr(0, eol);
      text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
      if (line.empty()) {
        r.body = std::string(text);
        break;
      }
      size_t colon = line.find(':');
      r.headers.push_back(
          {std::string(line.substr(0, colon)),
           colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1))});
    }
    return r;
  }

  // A view of this request; valid until the request changes or View() is called again.
  net::sigv4::HttpRequestView View() {
    fields_.clear();
    for (const net::sigv4::Header& h : headers) fields_.push_back({h.name, h.value});
    net::sigv4::HttpRequestView view;
    view.method = method;
    view.raw_path = path;
    view.raw_query = query;
    view.headers = fields_;
    view.body = AsBytes(body);
    return view;
  }

  // Drops every header of that name (any case).
  void Remove(std::string_view name) {
    std::erase_if(headers, [&](const auto& h) { return SameName(h.name, name); });
  }

  // Sets headers as a signer returns them: replacing those of the same name.
  void Set(const std::vector<net::sigv4::Header>& replacements) {
    for (const net::sigv4::Header& h : replacements) Remove(h.name);
    headers.insert(headers.end(), replacements.begin(), replacements.end());
  }

  bool Has(std::string_view name) const {
    for (const net::sigv4::Header& h : headers) {
      if (SameName(h.name, name)) return true;
    }
    return false;
  }

  static bool SameName(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (Lower(a[i]) != Lower(b[i])) return false;
    }
    return true;
  }

 private:
  static char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

  std::vector<net::sigv4::HeaderField> fields_;
};

// An HTTP field name (RFC 9110 token): what a server hands the verifier.
inline bool IsHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace coffer::fuzz
