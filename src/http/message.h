// Request and Response: the HTTP messages the server hands to and takes from a Handler.
// Plain value types with no Beast or Asio in them, so handlers (api/, web/) and their tests
// build and inspect them directly. Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overdue::http {

struct Request {
  std::string method;  // as sent: "GET", "POST", "HEAD", anything (case preserved)
  std::string target;  // the raw request-target
  std::string path;    // target before '?', NOT percent-decoded; absolute-form loses scheme://host
  std::string query;   // after '?', without it ("" if none)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;                                          // de-chunked when sent chunked
  std::string remote_addr;  // peer IP, no port (IPv4-mapped IPv6 shown as IPv4)
  int version = 11;         // 10 for HTTP/1.0, 11 for HTTP/1.1

  // The first value of a header, or nullptr if absent. `lower_name` must be lower-case.
  // Linear in the number of headers (a request has a handful).
  const std::string* Header(std::string_view lower_name) const;

  // The first value of a query parameter, percent-decoded with '+' as space; nullopt if
  // absent. A parameter without '=' has the value "". Malformed escapes are kept as sent
  // (Django's QueryDict, which healthchecks uses, does the same).
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";  // Django's default, for compatibility
  std::string body;
  // Extra headers, sent as given. Content-Length, Transfer-Encoding and Date are the
  // server's and are ignored here; "Connection: close" makes the server close afterwards.
  // A header whose name or value contains CR or LF is dropped (no response splitting).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Percent-decodes one query component ('+' as space); malformed escapes are kept as sent.
std::string DecodeQueryComponent(std::string_view s);

}  // namespace overdue::http
