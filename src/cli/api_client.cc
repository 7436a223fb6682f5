#include "cli/api_client.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <system_error>

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "cli/ping_client.h"

namespace overdue::cli {

const char kExitCodesHelp[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  server error or unexpected answer (5xx, local I/O)\n"
    "  2  usage error: bad flags or client configuration\n"
    "  3  not found (HTTP 404)\n"
    "  4  authentication or permission (HTTP 401/403): wrong, missing or read-only key\n"
    "  5  input rejected by the server (HTTP 400/409/413/422); its message is on stderr\n"
    "  6  cannot reach the server\n"
    "Server and key: --url/--api-key, else OVERDUE_URL/OVERDUE_API_KEY, else url/api_key in\n"
    "$XDG_CONFIG_HOME/overdue/cli.toml (default ~/.config/overdue/cli.toml), else\n"
    "http://127.0.0.1:8000.\n";

namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Exchange {
  CURL* curl = nullptr;
  std::ostream* sink = nullptr;
  std::string body;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (ex->sink != nullptr) {
    long status = 0;
    curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      ex->sink->write(data, static_cast<std::streamsize>(n));
      return ex->sink->good() ? n : 0;  // 0 aborts the transfer: stdout is gone
    }
  }
  const size_t room =
      ApiClient::kMaxKeptBodyBytes - std::min(ApiClient::kMaxKeptBodyBytes, ex->body.size());
  ex->body.append(data, std::min(n, room));
  return n;
}

std::string Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// A value from the TOML file: absent → nullopt; not a string → error naming file and key.
base::Result<std::optional<std::string>> TomlString(const toml::table& root, const char* key,
                                                    const std::string& path) {
  const toml::node* node = root.get(key);
  if (node == nullptr) return std::optional<std::string>();
  if (const auto* s = node->as_string()) return std::optional<std::string>(s->get());
  return base::InvalidArgument("config " + path + ": " + key + " must be a string");
}

}  // namespace

std::string ClientConfigPath(const GetEnv& getenv) {
  const char* xdg = getenv("XDG_CONFIG_HOME");
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/overdue/cli.toml";
  const char* home = getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.config/overdue/cli.toml";
  return "";
}

base::Result<std::string> NormalizeBaseUrl(std::string_view url, std::string_view what) {
  std::string s = Trim(url);
  if (!s.starts_with("http://") && !s.starts_with("https://")) {
    return base::InvalidArgument(std::string(what) + ": \"" + std::string(url) +
                                 "\": must start with http:// or https://");
  }
  while (s.size() > 8 && s.back() == '/') s.pop_back();
  return s;
}

base::Result<ClientConfig> ResolveClientConfig(const ClientFlags& flags, const GetEnv& getenv,
                                               const std::string& config_path) {
  std::optional<std::string> file_url;
  std::optional<std::string> file_key;
  std::error_code ec;
  if (!config_path.empty() && std::filesystem::exists(config_path, ec)) {
    std::ifstream in(config_path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (!in) return base::InvalidArgument("config " + config_path + ": cannot be read");
    toml::table root;
    try {
      root = toml::parse(buffer.str(), config_path);
    } catch (const toml::parse_error& e) {
      return base::InvalidArgument(
          "config " + config_path + ":" + std::to_string(e.source().begin.line) + ":" +
          std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
    for (auto&& [key, node] : root) {
      (void)node;
      if (key.str() != "url" && key.str() != "api_key") {
        return base::InvalidArgument("config " + config_path + ": unknown key \"" +
                                     std::string(key.str()) + "\" (known: url, api_key)");
      }
    }
    auto url = TomlString(root, "url", config_path);
    if (!url.ok()) return url.error();
    auto key = TomlString(root, "api_key", config_path);
    if (!key.ok()) return key.error();
    file_url = std::move(url.value());
    file_key = std::move(key.value());
  }
  auto env = [&](const char* name) -> std::optional<std::string> {
    const char* v = getenv(name);
    if (v == nullptr || v[0] == '\0') return std::nullopt;
    return std::string(v);
  };

  ClientConfig config;
  std::string url = kDefaultApiUrl;
  std::string url_source = "default URL";
  if (flags.url) {
    url = *flags.url;
    url_source = "--url";
  } else if (auto v = env("OVERDUE_URL")) {
    url = *v;
    url_source = "OVERDUE_URL";
  } else if (file_url) {
    url = *file_url;
    url_source = "config " + config_path + ": url";
  }
  auto normalized = NormalizeBaseUrl(url, url_source);
  if (!normalized.ok()) return normalized.error();
  config.url = std::move(normalized.value());

  if (flags.api_key) {
    config.api_key = *flags.api_key;
    config.api_key_source = "--api-key";
  } else if (auto v = env("OVERDUE_API_KEY")) {
    config.api_key = *v;
    config.api_key_source = "OVERDUE_API_KEY";
  } else if (file_key) {
    config.api_key = *file_key;
    config.api_key_source = config_path;
  }
  config.api_key = Trim(config.api_key);
  return config;
}

base::Status RequireApiKey(const ClientConfig& config, const std::string& config_path) {
  if (!config.api_key.empty()) return {};
  return base::InvalidArgument(
      "no API key: give --api-key, set OVERDUE_API_KEY or put api_key = \"...\" in " +
      (config_path.empty() ? std::string("~/.config/overdue/cli.toml") : config_path));
}

std::string EscapeQueryComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string ServerMessage(const ApiResponse& response) {
  const auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (j.is_object()) {
    const auto e = j.find("error");
    if (e != j.end() && e->is_string()) return e->get<std::string>();
  }
  std::string text = Trim(response.body);
  // An HTML error page from a proxy is not worth printing whole.
  if (text.starts_with("<")) return "";
  const size_t nl = text.find('\n');
  if (nl != std::string::npos) text = Trim(text.substr(0, nl));
  constexpr size_t kMaxShown = 500;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "…";
  return text;
}

int ExitCodeForStatus(long status) {
  if (status >= 200 && status < 300) return kExitOk;
  switch (status) {
    case 404:
      return kExitNotFound;
    case 401:
    case 403:
      return kExitAuth;
    case 400:
    case 409:
    case 413:
    case 422:
      return kExitRejected;
    default:
      return kExitError;
  }
}

int ReportHttpError(const ApiResponse& response, std::string_view what, std::ostream& err) {
  const int code = ExitCodeForStatus(response.status);
  const std::string message = ServerMessage(response);
  std::string status = "HTTP " + std::to_string(response.status);
  if (!message.empty()) status += ": " + message;
  std::string why;
  switch (code) {
    case kExitNotFound:
      why = "not found (" + status + ")";
      break;
    case kExitAuth:
      why = response.status == 401
                ? "authentication failed (" + status +
                      "); check the API key, and that it is a read-write key for writes"
                : "permission denied (" + status +
                      "): another project's check, or the project's check limit";
      break;
    case kExitRejected:
      why = "rejected by the server (" + status + ")";
      if (response.status == 413) why += ": the body exceeds the server's --max-body-bytes";
      break;
    default:
      why = response.status >= 300 && response.status < 400
                ? "redirected (" + status +
                      "), which is not followed: give the server's final URL (https://?)"
                : "server error (" + status + ")";
      break;
  }
  err << "overdue: " << what << ": " << why << "\n";
  return code;
}

int ReportUnreachable(const base::Error& error, std::ostream& err) {
  err << "overdue: " << error.message << "\n";
  return kExitUnreachable;
}

ApiClient::ApiClient(std::string base_url, std::string api_key, ApiTimeouts timeouts)
    : base_url_(std::move(base_url)), api_key_(std::move(api_key)), timeouts_(timeouts) {}

base::Result<ApiResponse> ApiClient::Send(std::string_view method, std::string_view path,
                                          std::string_view body, std::ostream* sink) const {
  InitCurlOnce();
  const std::string url = base_url_ + std::string(path);
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return base::Internal("libcurl cannot create a handle");
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Accept: application/json"));
  // "Expect:" stops curl from waiting for a 100-continue on larger bodies (imports).
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  if (!body.empty()) {
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
  }
  if (!api_key_.empty()) {
    const std::string h = "X-Api-Key: " + api_key_;
    headers.reset(curl_slist_append(headers.release(), h.c_str()));
  }
  const std::string user_agent = UserAgent();
  const std::string method_text(method);
  char error[CURL_ERROR_SIZE] = {0};
  Exchange ex;
  CURL* c = curl.get();
  ex.curl = c;
  ex.sink = sink;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  if (method_text == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (!body.empty() || method_text == "POST" || method_text == "PUT") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent.c_str());
  // No redirects: following one would turn a POST into a GET, and the key would go along.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts_.connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts_.total.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);
  const CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_WRITE_ERROR && sink != nullptr) {
    return base::Internal("cannot write the reply from " + url + " to the output");
  }
  if (rc != CURLE_OK) {
    return base::Unavailable(
        "cannot reach " + url + ": " +
        (error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(rc))));
  }
  ApiResponse r;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(ex.body);
  return r;
}

}  // namespace overdue::cli
