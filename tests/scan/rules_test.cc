// One table per rule of the built-in agentgate pack: lines that must fire
// exactly that rule, and near misses that must not fire anything. Cases are
// written for agentgate (none copied from any other scanner's corpus).
#include <gtest/gtest.h>

#include <set>

#include "scan/rules.h"
#include "scan/scanner.h"
#include "scan/test_util.h"

namespace ag::scan {
namespace {

using testing::Cat;
using testing::kAlnum;
using testing::kB64;
using testing::kHex;
using testing::kUpper32;
using testing::kUrl;
using testing::Noise;

struct Case {
  std::string rule;  // the rule the table is for
  std::string text;
  std::vector<std::string> expect;  // rule ids that fire; empty = clean
  std::string path = "src/app.py";
};

std::vector<Case> Cases() {
  const std::string ghp = Cat({"gh", "p_", Noise(36, kAlnum, 1)});
  const std::string jwt = Cat({"ey", "JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", "ey",
                               "JzdWIiOiJhZ2VudCIsIm5hbWUiOiJib3QiLCJpYXQiOjE3MDAwMDAwMDB9.",
                               Noise(43, kUrl, 2)});
  const std::string pem_body = Noise(64, kB64, 3) + "\n" + Noise(64, kB64, 4) + "\n" +
                               Noise(40, kB64, 5) + "\n";
  return {
      // aws-access-key-id
      {"aws-access-key-id", Cat({"key_id = \"AK", "IA", Noise(16, kUpper32, 10), "\""}),
       {"aws-access-key-id"}},
      {"aws-access-key-id", Cat({"export AWS_ACCESS_KEY_ID=AS", "IA", Noise(16, kUpper32, 11)}),
       {"aws-access-key-id"}},
      {"aws-access-key-id", Cat({"id: AK", "IAIOSFODNN7", "EXAMPLE"}), {}},
      {"aws-access-key-id", "AKIA is the prefix of long-term keys", {}},
      // A key glued to one more token character is still a key.
      {"aws-access-key-id", Cat({"k = \"AK", "IA", Noise(16, kUpper32, 10), "Q\""}), {"aws-access-key-id"}},
      {"aws-access-key-id", Cat({"x = \"AK", "IA", "AAAAAAAAAAAAAAAA\""}), {}},
      // aws-secret-access-key
      {"aws-secret-access-key",
       Cat({"aws_secret_access_key = ", Noise(40, std::string(kB64).substr(0, 62), 12)}),
       {"aws-secret-access-key"}},
      {"aws-secret-access-key",
       Cat({"\"SecretAccessKey\": \"", Noise(40, kB64, 13), "\""}), {"aws-secret-access-key"}},
      {"aws-secret-access-key", "aws_secret_access_key = os.environ['AWS_SECRET']", {}},
      {"aws-secret-access-key", Cat({"aws_secret_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfi", "CYEXAMPLEKEY\""}), {}},
      // github-token
      {"github-token", "GITHUB_TOKEN=" + ghp, {"github-token"}},
      {"github-token", Cat({"auth: gh", "s_", Noise(36, kAlnum, 14)}), {"github-token"}},
      {"github-token", Cat({"gh", "p_", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}), {}},
      {"github-token", Cat({"gh", "p_", "short123"}), {}},
      // The allowlist ("example") sees the token, not the word glued to it.
      {"github-token", "t = \"" + ghp + "example\"", {"github-token"}},
      // github-fine-grained-pat
      {"github-fine-grained-pat", Cat({"pat = github", "_pat_", Noise(82, kAlnum, 15)}),
       {"github-fine-grained-pat"}},
      {"github-fine-grained-pat", "see github_pat_ tokens in the docs", {}},
      // gitlab-token
      {"gitlab-token", Cat({"GITLAB_TOKEN: gl", "pat-", Noise(20, kUrl, 16)}), {"gitlab-token"}},
      {"gitlab-token", Cat({"token=gl", "dt-", Noise(24, kAlnum, 17)}), {"gitlab-token"}},
      {"gitlab-token", Cat({"gl", "pat-", "<your-token-here>"}), {}},
      // gitlab-runner-registration-token
      {"gitlab-runner-registration-token", Cat({"registration-token: GR", "1348941", Noise(20, kAlnum, 18)}),
       {"gitlab-runner-registration-token"}},
      {"gitlab-runner-registration-token", "GR1348941 is a prefix", {}},
      // slack-token
      {"slack-token", Cat({"SLACK=xo", "xb-", "2345678901-", "3456789012-", Noise(24, kAlnum, 19)}),
       {"slack-token"}},
      {"slack-token", Cat({"xo", "xp-", "1234-5678-xxxxxxxxxx"}), {}},
      {"slack-token", "the xoxb- prefix marks bot tokens", {}},
      // slack-webhook-url
      {"slack-webhook-url",
       Cat({"url = \"https://hooks.slack.com/services/T", Noise(8, kUpper32, 20), "/B",
            Noise(8, kUpper32, 21), "/", Noise(24, kAlnum, 22), "\""}),
       {"slack-webhook-url"}},
      {"slack-webhook-url", "see https://hooks.slack.com/services/ for setup", {}},
      // stripe-secret-key
      {"stripe-secret-key", Cat({"stripe.api_key = 'sk", "_live_", Noise(24, kAlnum, 23), "'"}),
       {"stripe-secret-key"}},
      {"stripe-secret-key", Cat({"sk", "_live_", "xxxxxxxxxxxxxxxxxxxxxxxx"}), {}},
      {"stripe-secret-key", "publishable = 'pk_live_123'", {}},
      // google-api-key
      {"google-api-key", Cat({"const KEY = \"AI", "zaSy", Noise(33, kUrl, 24), "\";"}),
       {"google-api-key"}},
      {"google-api-key", "AIza is the prefix of browser keys", {}},
      // private-key
      {"private-key",
       Cat({"-----BEGIN RSA PRIV", "ATE KEY-----\n", pem_body, "-----END RSA PRIV", "ATE KEY-----\n"}),
       {"private-key"}},
      {"private-key",
       Cat({"key: \"-----BEGIN PRIV", "ATE KEY-----\\n", Noise(80, kB64, 25),
            "\\n-----END PRIV", "ATE KEY-----\\n\""}),
       {"private-key"}},
      {"private-key", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n", {}},
      {"private-key", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----", {}},
      // jwt
      {"jwt", "Authorization: Bearer " + jwt, {"jwt"}},
      {"jwt", "the header starts with eyJ when it is JSON", {}},
      {"jwt", "unsigned: eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", {}},
      // npm-token
      {"npm-token", Cat({"NPM_TOKEN=np", "m_", Noise(36, kAlnum, 26)}), {"npm-token"}},
      {"npm-token", "run npm_config_cache=/tmp npm ci", {}},
      // npmrc-auth-token
      {"npmrc-auth-token", Cat({"//registry.npmjs.org/:_auth", "Token=", Noise(36, kUrl, 27)}),
       {"npmrc-auth-token"}, ".npmrc"},
      {"npmrc-auth-token", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}", {}, ".npmrc"},
      // openai-api-key
      {"openai-api-key", Cat({"OPENAI_API_KEY=sk", "-proj-", Noise(64, kUrl, 28)}),
       {"openai-api-key"}},
      {"openai-api-key", Cat({"key = \"sk-", Noise(20, kAlnum, 29), "T3Blbk", "FJ", Noise(20, kAlnum, 30), "\""}),
       {"openai-api-key"}},
      {"openai-api-key", "use sk-proj- keys for projects", {}},
      // anthropic-api-key
      {"anthropic-api-key", Cat({"ANTHROPIC_API_KEY=sk", "-ant-", "api03-", Noise(93, kUrl, 31), "AA"}),
       {"anthropic-api-key"}},
      {"anthropic-api-key", "keys look like sk-ant-api03-...", {}},
      // huggingface-token
      {"huggingface-token", Cat({"HF_TOKEN=h", "f_", Noise(34, std::string(kAlnum).substr(0, 52), 32)}),
       {"huggingface-token"}},
      {"huggingface-token", "def hf_hub_download_helper_function_name(x): pass", {}},
      // sendgrid-api-key
      {"sendgrid-api-key", Cat({"SENDGRID=S", "G.", Noise(22, kUrl, 33), ".", Noise(43, kUrl, 34)}),
       {"sendgrid-api-key"}},
      {"sendgrid-api-key", "msg.send(); msg.reply()", {}},
      // digitalocean-token
      {"digitalocean-token", Cat({"DO_TOKEN=do", "p_v1_", Noise(64, kHex, 35)}), {"digitalocean-token"}},
      {"digitalocean-token", "dop_v1_ tokens are 64 hex digits", {}},
      // shopify-token
      {"shopify-token", Cat({"SHOPIFY=shp", "at_", Noise(32, kHex, 36)}), {"shopify-token"}},
      {"shopify-token", "shpat_ marks admin tokens", {}},
      // pypi-token
      {"pypi-token", Cat({"password = py", "pi-AgEIcHlwaS5vcmc", Noise(60, kUrl, 37)}),
       {"pypi-token"}, ".pypirc"},
      {"pypi-token", "username = __token__", {}, ".pypirc"},
      // databricks-token
      {"databricks-token", Cat({"DATABRICKS_TOKEN=da", "pi", Noise(32, kHex, 38)}), {"databricks-token"}},
      {"databricks-token", "dapiclient = DapiClient()", {}},
      // atlassian-api-token
      {"atlassian-api-token", Cat({"JIRA_TOKEN=AT", "ATT3", Noise(186, kUrl, 39)}),
       {"atlassian-api-token"}},
      {"atlassian-api-token", "ATATT3 prefix", {}},
      // age-secret-key
      {"age-secret-key",
       Cat({"AGE-SECRET", "-KEY-1", Noise(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 40)}),
       {"age-secret-key"}},
      {"age-secret-key", "# AGE-SECRET-KEY-1 lines hold identities", {}},
      // hashicorp-vault-token
      {"hashicorp-vault-token", Cat({"VAULT_TOKEN=hv", "s.", Noise(95, kUrl, 41)}),
       {"hashicorp-vault-token"}},
      {"hashicorp-vault-token", "hvs.example", {}},
      // grafana-token
      {"grafana-token", Cat({"GRAFANA=gl", "sa_", Noise(32, kAlnum, 42), "_", Noise(8, kHex, 43)}),
       {"grafana-token"}},
      {"grafana-token", "glsa_ service account tokens", {}},
      // postman-api-key
      {"postman-api-key", Cat({"POSTMAN=PM", "AK-", Noise(24, kHex, 44), "-", Noise(34, kHex, 45)}),
       {"postman-api-key"}},
      {"postman-api-key", "PMAK- keys", {}},
      // linear-api-key
      {"linear-api-key", Cat({"LINEAR=lin", "_api_", Noise(40, kAlnum, 46)}), {"linear-api-key"}},
      {"linear-api-key", "lin_api_ keys", {}},
      // newrelic-user-api-key
      {"newrelic-user-api-key", Cat({"NEW_RELIC=NR", "AK-", Noise(27, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 47)}),
       {"newrelic-user-api-key"}},
      {"newrelic-user-api-key", "NRAK- keys", {}},
      // doppler-token
      {"doppler-token", Cat({"DOPPLER_TOKEN=dp", ".pt.", Noise(43, kAlnum, 48)}), {"doppler-token"}},
      {"doppler-token", "dp.pt.example", {}},
      // azure-storage-account-key
      {"azure-storage-account-key",
       Cat({"DefaultEndpointsProtocol=https;AccountName=acct;Account", "Key=", Noise(86, kB64, 49),
            "==;EndpointSuffix=core.windows.net"}),
       {"azure-storage-account-key"}},
      {"azure-storage-account-key", "AccountKey=<storage-key>", {}},
      // database-url-password
      {"database-url-password", Cat({"DATABASE_URL=postgres://app:", Noise(16, kAlnum, 50), "@db.internal:5432/app"}),
       {"database-url-password"}},
      {"database-url-password", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app", {}},
      {"database-url-password", "url = mongodb://localhost:27017/test", {}},
      // generic-secret-quoted
      {"generic-secret-quoted", Cat({"db_password = \"", Noise(14, kAlnum, 51), "\""}),
       {"generic-secret-quoted"}},
      {"generic-secret-quoted", Cat({"\"client_secret\": \"", Noise(32, kHex, 52), "\","}),
       {"generic-secret-quoted"}},
      {"generic-secret-quoted", "password = \"changeme\"", {}},
      {"generic-secret-quoted", "token = \"{{ vault_token }}\"", {}},
      {"generic-secret-quoted", "secret: \"${APP_SECRET}\"", {}},
      {"generic-secret-quoted", "password_field = \"password_input\"", {}},
      {"generic-secret-quoted", "api_key = \"YOUR_API_KEY_HERE\"", {}},
      {"generic-secret-quoted", "token_url = \"https://auth.example.org/oauth/token\"", {}},
      {"generic-secret-quoted", "secret = os.getenv(\"APP_SECRET\", \"aB3dE5fG7h\")", {}},
      // a specific rule wins over the generic one on the same value
      {"generic-secret-quoted", "token = \"" + ghp + "\"", {"github-token"}},
      // generic-secret-unquoted
      {"generic-secret-unquoted", Cat({"DB_PASSWORD=", Noise(20, kAlnum, 53)}),
       {"generic-secret-unquoted"}, ".env"},
      {"generic-secret-unquoted", "DB_PASSWORD=settings.database.password", {}, ".env"},
      {"generic-secret-unquoted", "SECRET_NAME=my-app-secret", {}, ".env"},
  };
}

class RulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ScannerOptions o;
    o.fingerprint_key = "test-key";
    auto s = Scanner::Create(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    scanner_ = *s;
  }
  static std::shared_ptr<const Scanner> scanner_;
};
std::shared_ptr<const Scanner> RulesTest::scanner_;

TEST_F(RulesTest, Table) {
  const std::vector<Case> cases = Cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::vector<Finding> out;
    std::vector<SkipNote> skipped;
    ASSERT_TRUE(scanner_->ScanText(c.path, c.text, &out, &skipped).ok());
    EXPECT_TRUE(skipped.empty());
    EXPECT_EQ(testing::RuleIds(out), c.expect) << "rule table " << c.rule << ", case #" << i;
  }
}

// Every built-in rule's own cases: tests/scan/builtin_cases (builtin_rules_test).

}  // namespace
}  // namespace ag::scan
