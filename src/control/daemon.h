// ReviewServices: everything the review workflow runs inside agentgate-mirror,
// behind one Start()/Stop(): the control socket server, the sweeper and the
// webhook notifier. mirror/main.cc starts it after loading the config and the
// policy and stops it on SIGTERM (reverse order of start):
//
//   ag::control::ReviewServices review;
//   if (auto s = review.Start(*config, policy.get()); !s.ok()) { ...exit 2... }
//   ... run the HTTP server ...
//   review.Stop();
//
// Thread-safety: Start() and Stop() from the controlling thread.
#pragma once

#include <functional>
#include <memory>

#include "config/config.h"
#include "control/server.h"
#include "policy/policy.h"
#include "review/services.h"

namespace ag::control {

class ReviewServices {
 public:
  ReviewServices() = default;
  ~ReviewServices() { Stop(); }
  ReviewServices(const ReviewServices&) = delete;
  ReviewServices& operator=(const ReviewServices&) = delete;

  // `policy` may be null (no default reviewers: requests that name none
  // cannot be approved). `on_approved` runs after a reviewer's command left a
  // request approved (may be empty). Starts nothing when one part fails.
  Status Start(const config::Config& config, const policy::Policy* policy,
               std::function<void()> on_approved = {}) {
    review::ReviewSettings settings = review::SettingsFrom(config, policy);
    ControlServerOptions co;
    co.socket_path = config.control_socket;
    co.db_path = config.db_path();
    co.reviewers = ReviewerAccountsOf(policy);  // they keep connection slots
    co.on_approved = std::move(on_approved);
    server_ = std::make_unique<ControlServer>(co, settings);
    review::SweeperOptions so;
    so.db_path = config.db_path();
    sweeper_ = std::make_unique<review::Sweeper>(so, settings);
    review::NotifierOptions no;
    no.db_path = config.db_path();
    no.webhook_url = config.webhook_url;
    notifier_ = std::make_unique<review::Notifier>(no);
    Status s = server_->Start();
    if (s.ok()) s = sweeper_->Start();
    if (s.ok()) s = notifier_->Start();
    if (!s.ok()) Stop();
    return s;
  }

  void Stop() {
    if (notifier_) notifier_->Stop();
    if (sweeper_) sweeper_->Stop();
    if (server_) server_->Stop();
  }

 private:
  std::unique_ptr<ControlServer> server_;
  std::unique_ptr<review::Sweeper> sweeper_;
  std::unique_ptr<review::Notifier> notifier_;
};

}  // namespace ag::control
