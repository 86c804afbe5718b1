// The control socket with the real server in-process and the real client:
// protocol errors, limits, identity from SO_PEERCRED only, `show` over a real
// bare repo, a stopped daemon and a corrupted database.
#include "control/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>

#include <fstream>
#include <thread>

#include "control/client.h"
#include "control/protocol.h"
#include "review/review_support.h"

namespace ag::control {
namespace {

using ag::testing::Seed;
using ag::testing::SeedPending;
using ag::testing::StatusOf;
using ag::testing::TempDir;
using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Db::Open(dir_ / "agentgate.db");
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    repo_ = ag::testing::MakeRepo(dir_.path());
    settings_.repo_paths["demo"] = repo_.path;
  }

  void StartServer(ShowOptions show = {}) {
    ControlServerOptions o;
    o.socket_path = dir_ / "run/control.sock";
    o.db_path = dir_ / "agentgate.db";
    o.show = show;
    o.io_timeout = std::chrono::milliseconds(2000);
    server_ = std::make_unique<ControlServer>(o, settings_);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  json Ask(const json& req) {
    auto r = Call(dir_ / "run/control.sock", req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }

  // Sends raw bytes, returns the first response line.
  std::string Raw(const std::string& bytes) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string p = dir_ / "run/control.sock";
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    ssize_t n;
    while (out.find('\n') == std::string::npos && (n = recv(fd, buf, sizeof buf, 0)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<store::Db> db_;
  ag::testing::TestRepo repo_;
  review::ReviewSettings settings_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ServerTest, SocketIsWorldConnectableInACreatedFolder) {
  StartServer();
  struct stat st{};
  ASSERT_EQ(stat((dir_ / "run/control.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  server_->Stop();
  EXPECT_NE(access((dir_ / "run/control.sock").c_str(), F_OK), 0);  // removed
}

TEST_F(ServerTest, ListPendingFirstWithTheDocumentedFields) {
  int64_t a = SeedPending(*db_, {.ref = "refs/heads/agent/a"});
  int64_t b = SeedPending(*db_, {.ref = "refs/heads/agent/b"});
  ASSERT_TRUE(db_->Exec("UPDATE requests SET status='replayed' WHERE id=" + std::to_string(b)).ok());
  StartServer();
  json r = Ask({{"cmd", "list"}});
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  ASSERT_EQ(r["result"].size(), 2u);
  EXPECT_EQ(r["result"][0]["id"], a);  // pending first although older
  for (const char* key : {"id", "repo", "ref", "old", "new", "status", "identity", "created", "rules"}) {
    EXPECT_TRUE(r["result"][0].contains(key)) << key;
  }
  EXPECT_EQ(r["result"][0]["rules"], json::array({"workflows"}));
  EXPECT_EQ(r["result"][0]["created"].get<std::string>().size(), 20u);  // 2026-01-01T00:00:00Z
  json only = Ask({{"cmd", "list"}, {"status", "replayed"}});
  ASSERT_EQ(only["result"].size(), 1u);
  EXPECT_EQ(only["result"][0]["id"], b);
  EXPECT_EQ(Ask({{"cmd", "list"}, {"repo", "other"}})["result"].size(), 0u);
  EXPECT_EQ(Ask({{"cmd", "list"}, {"limit", 1}})["result"].size(), 1u);
  EXPECT_EQ(Ask({{"cmd", "list"}, {"status", "bogus"}})["code"], "invalid_argument");
}

TEST_F(ServerTest, ShowBuildsCommitsFilesAndDiffAgainstTheLeaseBase) {
  int64_t id = SeedPending(*db_, {.old_oid = repo_.base, .new_oid = repo_.tip,
                                  .findings_json = R"([{"rule":"aws-key","path":"hello.txt","line":1,"masked":"AKIA****MPLE"}])"});
  StartServer();
  json r = Ask({{"cmd", "show"}, {"id", id}});
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  const json& s = r["result"];
  EXPECT_FALSE(s.contains("repo_error")) << s.dump();
  ASSERT_EQ(s["commits"].size(), 2u);
  EXPECT_EQ(s["commits"][0]["id"], repo_.first);  // oldest first
  EXPECT_EQ(s["commits"][0]["message"], "add hello\n\nbody line\n");
  EXPECT_EQ(s["commits"][1]["id"], repo_.tip);
  ASSERT_EQ(s["commits"][0]["files"].size(), 1u);  // each commit against its parent
  EXPECT_EQ(s["commits"][0]["files"][0]["path"], "hello.txt");
  EXPECT_EQ(s["commits"][0]["files"][0]["status"], "added");
  EXPECT_EQ(s["commits"][1]["files"][0]["path"], "README");
  EXPECT_EQ(s["commits"][1]["files"][0]["additions"], 1);
  EXPECT_EQ(s["diff_base"], repo_.base);
  ASSERT_EQ(s["files"].size(), 2u);
  EXPECT_EQ(s["stat"]["additions"], 2);
  std::string diff = s["diff"];
  EXPECT_NE(diff.find("diff --git a/hello.txt b/hello.txt"), std::string::npos);
  EXPECT_NE(diff.find("\n+hello\n"), std::string::npos);
  EXPECT_NE(diff.find("\n+more\n"), std::string::npos);
  EXPECT_EQ(s["findings"][0]["masked"], "AKIA****MPLE");
  EXPECT_EQ(s["push_options"], json::array({"ci.skip"}));
  EXPECT_EQ(s["rule_details"][0]["id"], "workflows");
  EXPECT_EQ(s["approval_list"].size(), 0u);
}

TEST_F(ServerTest, ShowNewBranchUsesMergeBaseWithUpstreamDefault) {
  int64_t id = SeedPending(*db_, {.new_oid = repo_.tip});  // zero old and base
  StartServer();
  json s = Ask({{"cmd", "show"}, {"id", id}})["result"];
  EXPECT_EQ(s["diff_base"], repo_.base);
  EXPECT_EQ(s["commits"].size(), 2u);  // the base commit is upstream's, not new
}

TEST_F(ServerTest, ShowCapsTheDiff) {
  int64_t id = SeedPending(*db_, {.old_oid = repo_.base, .new_oid = repo_.tip});
  StartServer({.max_diff_bytes = 100});
  json s = Ask({{"cmd", "show"}, {"id", id}})["result"];
  EXPECT_TRUE(s["diff_truncated"].get<bool>());
  EXPECT_LE(s["diff"].get<std::string>().size(), 100u);
  EXPECT_NE(s["diff_note"].get<std::string>().find("cut at 100 bytes"), std::string::npos);
}

TEST_F(ServerTest, IdentityComesFromPeerCredentialsNotTheRequest) {
  int64_t id = SeedPending(*db_, {.users = {"alice"}});
  StartServer();
  json r = Ask({{"cmd", "approve"}, {"id", id}, {"user", "alice"}, {"reviewer", "alice"},
                {"ref", "refs/heads/agent/x"}, {"old", std::string(40, '0')},
                {"new", std::string(40, '1')}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["code"], "not_found");
  EXPECT_TRUE(r["refused"].get<bool>());
  EXPECT_NE(r["error"].get<std::string>().find("root is not a reviewer"), std::string::npos);
  EXPECT_EQ(StatusOf(*db_, id), "pending");
}

TEST_F(ServerTest, BadRequests) {
  StartServer();
  EXPECT_EQ(Ask({{"cmd", "show"}, {"id", 999}})["code"], "not_found");
  EXPECT_EQ(Ask({{"cmd", "show"}, {"id", "abc"}})["code"], "invalid_argument");
  EXPECT_EQ(Ask({{"cmd", "show"}, {"id", -1}})["code"], "invalid_argument");
  EXPECT_EQ(Ask({{"cmd", "show"}})["code"], "invalid_argument");
  EXPECT_EQ(Ask({{"cmd", "launch"}})["code"], "invalid_argument");
  EXPECT_EQ(Ask({{"cmd", "reject"}, {"id", 1}})["code"], "invalid_argument");  // no reason
  EXPECT_EQ(Ask(json::array())["code"], "invalid_argument");
  std::string garbage = Raw("{not json\n");
  EXPECT_NE(garbage.find("not valid JSON"), std::string::npos);
  std::string huge = Raw(std::string(200 << 10, 'x'));
  EXPECT_NE(huge.find("resource_exhausted"), std::string::npos);
  // The server still answers afterwards.
  EXPECT_TRUE(Ask({{"cmd", "list"}})["ok"].get<bool>());
}

TEST_F(ServerTest, TricklingClientIsCutOff) {
  ControlServerOptions o;
  o.socket_path = dir_ / "run/slow.sock";
  o.db_path = dir_ / "agentgate.db";
  o.io_timeout = std::chrono::milliseconds(2000);
  o.connection_deadline = std::chrono::milliseconds(300);
  ControlServer s(o, settings_);
  ASSERT_TRUE(s.Start().ok());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, o.socket_path.c_str(), o.socket_path.size() + 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string got;
  char buf[512];
  for (int i = 0; i < 40 && got.find('\n') == std::string::npos; ++i) {  // bounded
    send(fd, "{", 1, MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  EXPECT_NE(got.find("deadline_exceeded"), std::string::npos) << got;
}

TEST_F(ServerTest, StoppedDaemonIsReportedWithHowToStartIt) {
  auto r = Call(dir_ / "run/control.sock", {{"cmd", "list"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "agentgate-mirror is not running (cannot connect to " +
                                      (dir_ / "run/control.sock") +
                                      "): start it with `systemctl start agentgate-mirror`");
}

TEST_F(ServerTest, RefusesASecondServerButReplacesAStaleSocket) {
  StartServer();
  ControlServer second({.socket_path = dir_ / "run/control.sock", .db_path = dir_ / "agentgate.db"},
                       settings_);
  EXPECT_EQ(second.Start().code(), Code::kAlreadyExists);
  server_->Stop();
  // A socket file nobody listens on (a crashed daemon's) is replaced.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string p = dir_ / "run/control.sock";
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  close(fd);
  StartServer();
  EXPECT_TRUE(Ask({{"cmd", "list"}})["ok"].get<bool>());
}

TEST_F(ServerTest, CorruptedDatabaseIsAClearErrorAndNothingIsWritten) {
  db_.reset();
  std::string path = dir_ / "agentgate.db";
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << std::string(8192, 'Z');
  }
  std::string before;
  ag::testing::Sh("sha256sum " + path, &before);
  StartServer();
  json r = Ask({{"cmd", "list"}});
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["code"], "corruption") << r.dump();
  EXPECT_FALSE(r["refused"].get<bool>());
  json a = Ask({{"cmd", "approve"}, {"id", 1}, {"ref", "r"}, {"old", "o"}, {"new", "n"}});
  EXPECT_EQ(a["code"], "corruption");
  std::string after;
  ag::testing::Sh("sha256sum " + path, &after);
  EXPECT_EQ(before, after);
}

TEST_F(ServerTest, MissingDatabaseIsNotCreatedByTheControlSocket) {
  ControlServer s({.socket_path = dir_ / "run/c2.sock", .db_path = dir_ / "nope.db"}, settings_);
  ASSERT_TRUE(s.Start().ok());
  auto r = Call(dir_ / "run/c2.sock", {{"cmd", "list"}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)["ok"].get<bool>());
  EXPECT_NE(access((dir_ / "nope.db").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace ag::control
