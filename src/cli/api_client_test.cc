#include "cli/api_client.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/test_receiver.h"

namespace overdue::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ClientConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "overdue-cli-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (dir_ / "cli.toml").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteFile(const std::string& text) { std::ofstream(path_) << text; }
  GetEnv Env() const {
    return [this](const char* name) -> const char* {
      const auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }
  base::Result<ClientConfig> Resolve(const ClientFlags& flags = {}) {
    return ResolveClientConfig(flags, Env(), path_);
  }

  fs::path dir_;
  std::string path_;
  std::map<std::string, std::string> env_;
};

TEST_F(ClientConfigTest, DefaultsWithoutFlagsEnvironmentOrFile) {
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "http://127.0.0.1:8000");
  EXPECT_EQ(c->api_key, "");
}

TEST_F(ClientConfigTest, FileSuppliesUrlAndKey) {
  WriteFile("url = \"https://od.example.com/\"\napi_key = \"file-key\"\n");
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "https://od.example.com");
  EXPECT_EQ(c->api_key, "file-key");
  EXPECT_EQ(c->api_key_source, path_);
}

TEST_F(ClientConfigTest, EnvironmentBeatsFile) {
  WriteFile("url = \"http://file:1\"\napi_key = \"file-key\"\n");
  env_["OVERDUE_URL"] = "http://env:2";
  env_["OVERDUE_API_KEY"] = "env-key";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "http://env:2");
  EXPECT_EQ(c->api_key, "env-key");
  EXPECT_EQ(c->api_key_source, "OVERDUE_API_KEY");
}

TEST_F(ClientConfigTest, FlagBeatsEnvironmentAndFile) {
  WriteFile("url = \"http://file:1\"\napi_key = \"file-key\"\n");
  env_["OVERDUE_URL"] = "http://env:2";
  env_["OVERDUE_API_KEY"] = "env-key";
  auto c = Resolve({std::string("http://flag:3"), std::string("flag-key")});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "http://flag:3");
  EXPECT_EQ(c->api_key, "flag-key");
  EXPECT_EQ(c->api_key_source, "--api-key");
}

TEST_F(ClientConfigTest, EachValueResolvesOnItsOwn) {
  WriteFile("api_key = \"file-key\"\n");
  env_["OVERDUE_URL"] = "http://env:2";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->url, "http://env:2");
  EXPECT_EQ(c->api_key, "file-key");
}

TEST_F(ClientConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  WriteFile("api_key = \"file-key\"\n");
  env_["OVERDUE_API_KEY"] = "";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->api_key, "file-key");
}

TEST_F(ClientConfigTest, MalformedFileNamesPathAndLine) {
  WriteFile("url = \"http://x\"\napi_key = \n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, HasSubstr(path_ + ":2:"));
}

TEST_F(ClientConfigTest, NonStringValueIsRefused) {
  WriteFile("api_key = 12\n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, HasSubstr("api_key must be a string"));
}

TEST_F(ClientConfigTest, UnknownKeyIsRefused) {
  WriteFile("apikey = \"x\"\n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, HasSubstr("unknown key \"apikey\""));
}

TEST_F(ClientConfigTest, UrlWithoutSchemeNamesItsSource) {
  env_["OVERDUE_URL"] = "localhost:8000";
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, HasSubstr("OVERDUE_URL"));
  EXPECT_THAT(c.error().message, HasSubstr("http://"));
}

TEST_F(ClientConfigTest, MissingKeyIsReportedWithItsThreePlaces) {
  auto c = Resolve();
  ASSERT_TRUE(c.ok());
  auto st = RequireApiKey(c.value(), path_);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("--api-key"));
  EXPECT_THAT(st.error().message, HasSubstr("OVERDUE_API_KEY"));
  EXPECT_THAT(st.error().message, HasSubstr(path_));
}

TEST(ClientConfigPathTest, XdgConfigHomeWinsOverHome) {
  std::map<std::string, std::string> env = {{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/home/u"}};
  auto get = [&](const char* n) -> const char* {
    return env.contains(n) ? env[n].c_str() : nullptr;
  };
  EXPECT_EQ(ClientConfigPath(get), "/x/overdue/cli.toml");
  env["XDG_CONFIG_HOME"] = "relative";  // invalid per the XDG spec: ignored
  EXPECT_EQ(ClientConfigPath(get), "/home/u/.config/overdue/cli.toml");
  env.erase("XDG_CONFIG_HOME");
  EXPECT_EQ(ClientConfigPath(get), "/home/u/.config/overdue/cli.toml");
  env.clear();
  EXPECT_EQ(ClientConfigPath(get), "");
}

TEST(ExitCodeTest, EachStatusClassHasItsCode) {
  EXPECT_EQ(ExitCodeForStatus(200), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(201), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(404), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(401), kExitAuth);
  EXPECT_EQ(ExitCodeForStatus(403), kExitAuth);
  EXPECT_EQ(ExitCodeForStatus(400), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(409), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(413), kExitRejected);
  EXPECT_EQ(ExitCodeForStatus(500), kExitError);
  EXPECT_EQ(ExitCodeForStatus(503), kExitError);
  EXPECT_EQ(ExitCodeForStatus(301), kExitError);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitUnreachable, 6);
}

TEST(ServerMessageTest, ErrorFieldTextOrNothing) {
  EXPECT_EQ(ServerMessage({400, R"({"error": "json validation error: timeout is too small"})"}),
            "json validation error: timeout is too small");
  EXPECT_EQ(ServerMessage({409, "check is not paused\n"}), "check is not paused");
  EXPECT_EQ(ServerMessage({502, "<html><body>Bad gateway</body></html>"}), "");
  EXPECT_EQ(ServerMessage({403, ""}), "");
}

TEST(ReportHttpErrorTest, QuotesTheServerMessageAndReturnsTheCode) {
  std::ostringstream err;
  EXPECT_EQ(ReportHttpError({400, R"({"error": "json validation error: name is too long"})"},
                            "checks create", err),
            kExitRejected);
  EXPECT_EQ(err.str(),
            "overdue: checks create: rejected by the server (HTTP 400: json validation error: "
            "name is too long)\n");
  err.str("");
  EXPECT_EQ(ReportHttpError({404, R"({"error": "not found"})"}, "check x", err), kExitNotFound);
  EXPECT_THAT(err.str(), HasSubstr("check x: not found"));
  err.str("");
  EXPECT_EQ(ReportHttpError({401, R"({"error": "wrong api key"})"}, "checks list", err), kExitAuth);
  EXPECT_THAT(err.str(), HasSubstr("authentication failed (HTTP 401: wrong api key)"));
  err.str("");
  EXPECT_EQ(ReportHttpError({301, ""}, "checks list", err), kExitError);
  EXPECT_THAT(err.str(), HasSubstr("redirected (HTTP 301)"));
  err.str("");
  EXPECT_EQ(ReportHttpError({503, R"({"error": "store unavailable: disk full"})"}, "export", err),
            kExitError);
  EXPECT_EQ(err.str(), "overdue: export: server error (HTTP 503: store unavailable: disk full)\n");
}

TEST(EscapeQueryComponentTest, KeepsUnreservedAndEncodesTheRest) {
  EXPECT_EQ(EscapeQueryComponent("a-b_c.d~9"), "a-b_c.d~9");
  EXPECT_EQ(EscapeQueryComponent("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

TEST(ApiClientTest, SendsMethodPathKeyAndJsonBody) {
  TestReceiver receiver;
  receiver.QueueStatuses({201});
  ApiClient client(receiver.url(), "secret-key");
  auto r = client.Send("POST", "/api/v3/checks/", R"({"name":"x"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "OK");
  const auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/api/v3/checks/");
  EXPECT_EQ(reqs[0].headers.at("x-api-key"), "secret-key");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(reqs[0].body, R"({"name":"x"})");
}

TEST(ApiClientTest, GetDeleteAndEmptyPostHaveNoBody) {
  TestReceiver receiver;
  ApiClient client(receiver.url(), "k");
  ASSERT_TRUE(client.Get("/api/v3/checks/?tag=a").ok());
  ASSERT_TRUE(client.Send("DELETE", "/api/v3/checks/u").ok());
  ASSERT_TRUE(client.Send("POST", "/api/v3/checks/u/pause").ok());
  const auto reqs = receiver.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/api/v3/checks/?tag=a");
  EXPECT_EQ(reqs[1].method, "DELETE");
  EXPECT_EQ(reqs[2].method, "POST");
  for (const auto& r : reqs) EXPECT_EQ(r.body, "");
}

TEST(ApiClientTest, NonSuccessStatusIsAReplyNotAnError) {
  TestReceiver receiver;
  receiver.QueueStatuses({503});
  ApiClient client(receiver.url(), "k");
  auto r = client.Get("/api/v3/checks/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "error");
}

TEST(ApiClientTest, SuccessBodyGoesToTheSinkOthersAreKept) {
  TestReceiver receiver;
  receiver.QueueStatuses({200, 401});
  ApiClient client(receiver.url(), "k");
  std::ostringstream sink;
  auto ok = client.Send("GET", "/api/v1/export", {}, &sink);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(sink.str(), "OK");
  EXPECT_EQ(ok->body, "");
  sink.str("");
  auto denied = client.Send("GET", "/api/v1/export", {}, &sink);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(sink.str(), "");
  EXPECT_EQ(denied->body, "error");
}

TEST(ApiClientTest, UnreachableServerIsUnavailableNamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  ApiClient client(url, "k");
  auto r = client.Get("/api/v3/checks/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, HasSubstr("cannot reach " + url + "/api/v3/checks/"));
}

}  // namespace
}  // namespace overdue::cli
