// The reviewer sees the truth: an agent pushes, through the real
// agentgate-mirror and the real hooks, a commit whose contents, file name,
// message, author, push option and ref name carry terminal escapes ("\r",
// ESC[1A ESC[2K, ESC[8m) and a bidi override; `agentgate show`, `list`,
// `audit show`, the notifier's log line and its webhook text then hold none
// of those raw bytes and show each one visibly ("\r", "\x1b", "\u{202e}").
// REQUIRES: nginx, fcgiwrap (the upstream), python3 (the webhook listener).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/loop_fixture.h"

namespace ag::testing {
namespace {

const std::string kEsc = "\x1b";
const std::string kRlo = "\xE2\x80\xAE";  // U+202E RIGHT-TO-LEFT OVERRIDE

// Records each POST body, one per line, in argv[2].
const char* kWebhook = R"(import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        with open(sys.argv[2], 'ab') as f:
            f.write(body + b'\n')
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
)";

// No raw byte a terminal would act on: ESC, CR, U+202E.
void ExpectNothingRaw(const std::string& what, const std::string& out) {
  EXPECT_EQ(out.find(kEsc), std::string::npos) << what << " holds a raw ESC:\n" << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << what << " holds a raw CR:\n" << out;
  EXPECT_EQ(out.find(kRlo), std::string::npos) << what << " holds a raw U+202E:\n" << out;
}

class ReviewDisplayTest : public LoopTest {
 protected:
  void SetUp() override {
    const std::string& t = dir_.path();
    webhook_port_ = e2e::FreePort();
    ASSERT_TRUE(webhook_.Start({"python3", "-c", kWebhook, std::to_string(webhook_port_),
                                t + "/webhook.jsonl"},
                               t + "/webhook.log"));
    ASSERT_TRUE(WaitFor([&] { return CanConnect(webhook_port_); })) << ReadAll(t + "/webhook.log");
    LoopTest::SetUp();
  }
  LoopOptions Options() override {
    // Every push under agent/ waits for this test's user (root in CI).
    return {"version: 1\ndefault_outcome: hold\nreviewers: {users: [" + Me() +
                "]}\nprofiles:\n  - name: agents\n    refs: [\"refs/heads/agent/**\"]\n",
            "webhook_url: http://127.0.0.1:" + std::to_string(webhook_port_) + "/hook\n"};
  }

  int webhook_port_ = 0;
  Child webhook_;
};

TEST_F(ReviewDisplayTest, HostileBytesAreShownNotObeyed) {
  const std::string work = dir_.path() + "/work";
  const std::string ref = "agent/rev" + kRlo + "txt";
  ASSERT_EQ(Work("checkout -q -b " + ShellQuote(ref)).rc, 0);
  WriteFile(work + "/app.py", "import os\nos.system(\"curl evil\")\n"
                              "ok = 1  \r# formatting only\n"
                              "\x1b[1A\x1b[2K\n");
  WriteFile(work + "/evil\x1b[2Kname.txt", "x\n");
  WriteFile(dir_.path() + "/msg", "tidy\x1b[8m hidden words\x1b[0m\n\nbody\rover\n");
  ASSERT_EQ(Work("add -A").rc, 0);
  CmdResult commit = Cmd("GIT_AUTHOR_NAME=" + ShellQuote("Mallory\x1b[2J") + " HOME=" + dir_.path() +
                         "/home GIT_CONFIG_NOSYSTEM=1 git -C " + work + " commit -q -F " +
                         dir_.path() + "/msg");
  ASSERT_EQ(commit.rc, 0) << commit.out;
  CmdResult push = Work("push -o " + ShellQuote("task=\x1b[2Jx") + " origin " + ShellQuote(ref));
  ASSERT_EQ(push.rc, 0) << push.out;
  ASSERT_NE(push.out.find("held for review as request 1"), std::string::npos) << push.out;

  CmdResult show = Agentgate("show 1");
  ASSERT_EQ(show.rc, 0) << show.out;
  ExpectNothingRaw("show", show.out);
  for (const char* visible : {
           "+ok = 1  \\r# formatting only",   // the carriage return, not an overwrite
           "+\\x1b[1A\\x1b[2K",               // the erase sequence, as text
           "    tidy\\x1b[8m hidden words",   // the message
           "    body\\rover",
           "Author: Mallory\\x1b[2J <",        // the author
           "evil\\x1b[2Kname.txt",            // the file name, in the list and the diff
           "ref:          refs/heads/agent/rev\\u{202e}txt",
           "push options: task=\\x1b[2Jx",
       }) {
    EXPECT_NE(show.out.find(visible), std::string::npos) << "missing " << visible << ":\n" << show.out;
  }

  CmdResult list = Agentgate("list");
  ASSERT_EQ(list.rc, 0) << list.out;
  ExpectNothingRaw("list", list.out);
  EXPECT_NE(list.out.find("refs/heads/agent/rev\\u{202e}txt"), std::string::npos) << list.out;

  CmdResult audit = Agentgate("audit show 1");
  ASSERT_EQ(audit.rc, 0) << audit.out;
  ExpectNothingRaw("audit show", audit.out);
  EXPECT_NE(audit.out.find("refs/heads/agent/rev\\u{202e}txt"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("  task=\\x1b[2Jx\n"), std::string::npos) << audit.out;

  // The notifier: its log line and the webhook's text.
  std::string hook_file = dir_.path() + "/webhook.jsonl";
  ASSERT_TRUE(WaitFor([&] { return !ReadAll(hook_file).empty(); }, std::chrono::seconds(15)))
      << ReadAll(dir_.path() + "/daemon.log");
  auto body = nlohmann::json::parse(ReadAll(hook_file), nullptr, false);
  ASSERT_TRUE(body.is_object()) << ReadAll(hook_file);
  std::string text = body.value("text", "");
  ExpectNothingRaw("webhook text", text);
  EXPECT_NE(text.find("refs/heads/agent/rev\\u{202e}txt by agent-ci"), std::string::npos) << text;
  std::string log = ReadAll(dir_.path() + "/daemon.log");
  size_t at = log.find("event=review.pending");
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  ExpectNothingRaw("review.pending log line", line);
  EXPECT_NE(line.find("u{202e}"), std::string::npos) << line;

  // What approve prints back (the server's message and the ref) is escaped too.
  CmdResult approve = Agentgate("approve 1");
  ASSERT_EQ(approve.rc, 0) << approve.out;
  ExpectNothingRaw("approve", approve.out);
  EXPECT_NE(approve.out.find("refs/heads/agent/rev\\u{202e}txt"), std::string::npos) << approve.out;
}

// Chat apps act on "<!channel>": the webhook text shows it instead.
TEST_F(ReviewDisplayTest, WebhookTextIsSlackEscaped) {
  // '<' and '>' are fine in a git ref name; the ref is the agent's to choose.
  const std::string ref = "agent/<!channel>&<!here|x>";
  ASSERT_EQ(Work("checkout -q -b " + ShellQuote(ref)).rc, 0);
  WriteFile(dir_.path() + "/work/f.txt", "f\n");
  ASSERT_EQ(Work("add -A").rc, 0);
  ASSERT_EQ(Work("commit -q -m f").rc, 0);
  CmdResult push = Work("push origin " + ShellQuote(ref));
  ASSERT_EQ(push.rc, 0) << push.out;
  std::string hook_file = dir_.path() + "/webhook.jsonl";
  ASSERT_TRUE(WaitFor([&] { return !ReadAll(hook_file).empty(); }, std::chrono::seconds(15)))
      << ReadAll(dir_.path() + "/daemon.log");
  auto body = nlohmann::json::parse(ReadAll(hook_file), nullptr, false);
  ASSERT_TRUE(body.is_object()) << ReadAll(hook_file);
  std::string text = body.value("text", "");
  EXPECT_NE(text.find("refs/heads/agent/&lt;!channel&gt;&amp;&lt;!here|x&gt; by agent-ci"),
            std::string::npos) << text;
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_EQ(body.value("ref", ""), "refs/heads/" + ref);  // the data field, as pushed
}

}  // namespace
}  // namespace ag::testing
