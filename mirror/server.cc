// The one translation unit with Beast and Asio's socket code (see server.h).
#include "mirror/server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>

#include "identity/identity.h"
#include "mirror/cgi.h"
#include "mirror/child.h"
#include "mirror/connections.h"
#include "mirror/inflate.h"
#include "util/log.h"
#include "mirror/metrics.h"
#include "mirror/routes.h"
#include "mirror/tls.h"
#include "store/freezes.h"
#include "util/crypto.h"
#include "util/signed_env.h"

namespace ag::mirror {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr size_t kIoChunk = 64 << 10;         // one read from the socket or a pipe
constexpr size_t kStderrChunk = 4 << 10;
constexpr size_t kStderrLineMax = 512;        // longer child stderr lines are cut
constexpr int kStderrLinesMax = 50;           // per request; the rest is dropped
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
// Answer to a connection refused at the door (plain HTTP only; best effort).
constexpr char kBusy[] =
    "HTTP/1.1 503 Service Unavailable\r\nServer: agentgate\r\nRetry-After: 1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\nConnection: close\r\n\r\n"
    "agentgate: too many connections, retry\n";
// One log line per event and burst, then one summary line per window.
constexpr auto kLogBurstWindow = std::chrono::seconds(10);
// A pause before accepting again when no descriptor can be freed at all.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(250);

// What the listener needs of any session: closing it to make room.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Shed() = 0;
};

// Everything sessions share. Members below `ioc` are touched on the network
// thread only, except `metrics` and `auth` (thread-safe).
struct ServerState {
  std::shared_ptr<const config::Config> config;
  std::string config_path;
  std::string server_key;
  std::string env_path, env_home;
  Metrics metrics;
  // After metrics: destroyed first, its issuers' fetch threads report to metrics.
  std::unique_ptr<identity::Authenticator> auth;
  // The kill switch (store/freezes.h), checked after authentication.
  std::unique_ptr<store::FreezeCache> freezes;
  net::io_context* ioc = nullptr;
  net::thread_pool* blocking = nullptr;
  ssl::context* tls = nullptr;  // null: plain HTTP
  uint32_t in_flight = 0;
  std::map<std::string, uint32_t> per_identity;
  bool stopping = false;
  size_t sessions = 0;
  std::function<void()> on_drained;  // stopping and the last session ended
  // Open connections (admission, shedding; mirror/connections.h) and the
  // session behind each.
  std::optional<ConnectionTable> connections;
  std::unordered_map<ConnectionTable::Id, std::weak_ptr<SessionBase>> live;
  // Floods (refused, shed, header timeouts, accept failures) are logged
  // once per burst; `arm_throttle` makes sure the summaries get written.
  LogThrottle throttle{kLogBurstWindow};
  std::function<void()> arm_throttle;
};

// Logs `event` unless a burst of it is already being counted (then the
// count appears in one summary line per kLogBurstWindow: `count=N`).
void Report(ServerState& state, std::string_view event, std::initializer_list<LogField> fields) {
  if (state.throttle.Note(event, Clock::now())) LogWarn(event, fields);
  if (state.arm_throttle) state.arm_throttle();
}

// The key the per-address cap counts by: an IPv4 address (also when mapped
// into IPv6); for IPv6 its /64, which one client usually holds whole.
std::string AddressKey(const net::ip::address& address) {
  if (address.is_v6()) {
    net::ip::address_v6 v6 = address.to_v6();
    if (v6.is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, v6).to_string();
    net::ip::address_v6::bytes_type bytes = v6.to_bytes();
    for (size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
    return net::ip::address_v6(bytes).to_string() + "/64";
  }
  return address.to_string();
}

// The one place async errors are reported. Ordinary ends of connections are
// not worth a line.
void Fail(const error_code& ec, std::string_view what, std::string_view id = "-") {
  if (ec == net::error::operation_aborted || ec == net::error::eof ||
      ec == http::error::end_of_stream || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == ssl::error::stream_truncated) {
    return;
  }
  std::string msg = ec.message();
  LogWarn("io_error", {{"id", std::string(id)}, {"what", std::string(what)}, {"error", msg}});
}

// A concurrency slot: counts one request in total and for its identity.
class Slot {
 public:
  Slot() = default;
  Slot(ServerState* state, std::string identity) : state_(state), identity_(std::move(identity)) {
    ++state_->in_flight;
    ++state_->per_identity[identity_];
    state_->metrics.AddInFlight(1);
  }
  Slot(Slot&& o) noexcept : state_(std::exchange(o.state_, nullptr)), identity_(std::move(o.identity_)) {}
  Slot& operator=(Slot&& o) noexcept {
    Release();
    state_ = std::exchange(o.state_, nullptr);
    identity_ = std::move(o.identity_);
    return *this;
  }
  ~Slot() { Release(); }
  void Release() {
    if (!state_) return;
    --state_->in_flight;
    auto it = state_->per_identity.find(identity_);
    if (it != state_->per_identity.end() && --it->second == 0) state_->per_identity.erase(it);
    state_->metrics.AddInFlight(-1);
    state_ = nullptr;
  }

 private:
  ServerState* state_ = nullptr;
  std::string identity_;
};

std::string NewRequestId() {
  Result<std::string> bytes = RandomBytes(8);
  return bytes.ok() ? HexEncode(*bytes) : "0000000000000000";
}

// One exchange (request and response) on a connection.
struct Exchange {
  std::string id;
  Clock::time_point start = Clock::now();
  std::string method, path;
  std::string_view route_name = "none";
  RouteMatch match;
  std::optional<identity::Identity> identity;
  int status = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  bool keep_alive = false;
  bool logged = false;
  Slot slot;
  // CGI streaming state.
  std::unique_ptr<CgiChild> child;
  CgiHeaderParser cgi;
  bool body_done = false;       // request body fully read (and passed on or dropped)
  bool body_complete = false;   // request body fully read from the client
  bool discarding = false;      // the child stopped reading; the body is dropped
  bool response_started = false;
  bool response_done = false;
  bool stdout_eof = false;
  bool stderr_eof = false;
  bool child_exited = false;
  bool watching_disconnect = false;
  const char* pending = nullptr;  // child body bytes waiting for the socket
  size_t pending_len = 0;
  std::unique_ptr<char[]> in_buf, out_buf, err_buf;
  // Content-Encoding: gzip: the body is inflated here (bounded) and passed on plain.
  std::unique_ptr<GzipInflater> inflater;
  std::unique_ptr<char[]> plain_buf;
  std::string err_line;
  int err_lines = 0;
  std::unique_ptr<http::response<http::empty_body>> res;
  std::unique_ptr<http::response_serializer<http::empty_body>> serializer;
};

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  // `conn` is this connection's entry in state->connections (the caller
  // added it); the session forgets it when the socket closes.
  Session(std::shared_ptr<ServerState> state, Stream stream, std::string remote,
          ConnectionTable::Id conn)
      : state_(std::move(state)),
        stream_(std::move(stream)),
        buffer_(state_->config->limits.max_header_bytes + 2 * kIoChunk),
        timer_(*state_->ioc),
        remote_(std::move(remote)),
        conn_(conn) {
    ++state_->sessions;
    state_->metrics.AddConnections(1);
  }

  ~Session() {
    if (ex_ && ex_->child) ex_->child.reset();  // kills and reaps
    ForgetConnection();
    if (--state_->sessions == 0 && state_->stopping && state_->on_drained) state_->on_drained();
  }

  // Closes the connection to make room for a new one (it is idle).
  void Shed() override { Close(); }

  void Start() {
    state_->live[conn_] = this->shared_from_this();
    Arm();
    header_deadline_ = Clock::now() + limits().header_timeout;
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](const error_code& ec) {
        if (self->closed_) return;
        if (ec) {
          Fail(ec, "tls handshake");
          return self->Close();
        }
        self->ReadHeader();
      });
    } else {
      ReadHeader();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  enum class Phase { kHandshake, kWaiting, kRequest };

  std::shared_ptr<Session> Self() { return this->shared_from_this(); }
  const config::ServerLimits& limits() const { return state_->config->limits; }
  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }
  void Touch() { last_activity_ = Clock::now(); }
  bool Stale(uint64_t gen) const { return closed_ || gen != gen_ || !ex_; }

  // ---- watchdog: request deadline, idle timeout, header deadline, shutdown
  void Arm() {
    timer_.expires_after(kWatchdogPeriod);
    timer_.async_wait([self = Self()](const error_code& ec) {
      if (ec || self->closed_) return;
      self->Check();
      if (!self->closed_) self->Arm();
    });
  }

  void Check() {
    Clock::time_point now = Clock::now();
    if (phase_ != Phase::kRequest) {
      // Slow or silent clients: a whole header (TLS handshake included)
      // within header_timeout; a silent keep-alive connection just ends.
      if (now > header_deadline_) {
        if (buffer_.size() > 0 || phase_ == Phase::kHandshake || requests_ == 0) {
          state_->metrics.CountConnectionDropped("header_timeout");
          Report(*state_, "header_timeout", {{"remote", remote_}});
        }
        return Close();
      }
      if (state_->stopping && phase_ == Phase::kWaiting && buffer_.size() == 0) return Close();
      return;
    }
    if (now > request_deadline_) return Abort(408, "agentgate: request timeout\n", "request_timeout");
    if (now - last_activity_ > limits().idle_timeout) {
      return Abort(408, "agentgate: idle timeout\n", "idle_timeout");
    }
  }

  // ---- reading a request
  void ReadHeader() {
    phase_ = Phase::kWaiting;
    state_->connections->SetIdle(conn_, true);
    ex_.reset();
    ++gen_;
    header_deadline_ = Clock::now() + limits().header_timeout;
    parser_.emplace();
    parser_->header_limit(limits().max_header_bytes);
    parser_->body_limit(limits().max_body_bytes);  // explicit: body_limit(none) is broken in 1.74
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](const error_code& ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    if (closed_) return;
    phase_ = Phase::kRequest;
    ++requests_;
    state_->connections->SetIdle(conn_, false);
    ex_ = std::make_unique<Exchange>();
    ex_->id = NewRequestId();
    Touch();
    request_deadline_ = Clock::now() + limits().request_timeout;
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted) {
      ex_.reset();
      return Close();
    }
    if (ec == http::error::header_limit) {
      return SendSimple(431, "agentgate: request header too large\n", true);
    }
    if (ec == http::error::body_limit) {
      return SendSimple(413, "agentgate: request body too large\n", true);
    }
    if (ec == net::error::connection_reset || ec == ssl::error::stream_truncated) {
      ex_.reset();
      return Close();
    }
    if (ec) {
      Fail(ec, "read header", ex_->id);
      return SendSimple(400, "agentgate: bad request\n", true);
    }
    const auto& req = parser_->get();
    ex_->method = std::string(req.method_string());
    std::string_view target(req.target().data(), req.target().size());
    ex_->path = std::string(target.substr(0, target.find('?')));
    Result<RouteMatch> match = MatchRoute(ex_->method, target, *state_->config);
    if (!match.ok()) {
      return SendSimple(RouteErrorStatus(match.status()),
                        "agentgate: " + match.status().message() + "\n", !parser_->is_done());
    }
    ex_->match = std::move(match).value();
    ex_->route_name = ex_->match.route->name;
    switch (ex_->match.route->kind) {
      case RouteKind::kHealthz:
        return SendSimple(state_->stopping ? 503 : 200, state_->stopping ? "stopping\n" : "ok\n",
                          !parser_->is_done());
      case RouteKind::kMetrics:
        return ServeMetrics();
      default:
        return Authenticate();
    }
  }

  void ServeMetrics() {
    uint64_t gen = gen_;
    // The pool thread hands its reference back with the result (moved): the
    // session is never destroyed there (its destructor touches ServerState,
    // which only the network thread may; TSan found it).
    net::post(*state_->blocking, [self = Self(), gen]() mutable {
      int64_t depth = QueueDepth(self->state_->config->db_path());
      net::io_context& ioc = *self->state_->ioc;
      net::post(ioc, [self = std::move(self), gen, depth] {
        if (self->Stale(gen)) return;
        self->SendSimple(200, self->state_->metrics.Render(depth), !self->parser_->is_done(),
                         "text/plain; version=0.0.4");
      });
    });
  }

  // ---- identity at the door
  void Authenticate() {
    const auto& req = parser_->get();
    std::string authorization(req[http::field::authorization]);
    if (authorization.empty()) {
      return AuthFailed("missing", Status::Unauthenticated("authentication required"));
    }
    uint64_t gen = gen_;
    // Off the network thread: CPU only (OIDC keys are fetched by the
    // issuers' own threads), but an RSA verify is better not run here.
    net::post(*state_->blocking, [self = Self(), gen, authorization = std::move(authorization)]() mutable {
      auto result = std::make_shared<Result<identity::Identity>>(
          self->state_->auth->Authenticate(authorization, std::chrono::system_clock::now()));
      // A frozen identity is refused like a forbidden one (403 with the
      // reason, which git prints); a freeze list that cannot be read refuses
      // everyone (fail closed).
      if (result->ok()) {
        Result<std::optional<store::Freeze>> frozen =
            self->state_->freezes->Check((*result)->name, (*result)->groups);
        if (!frozen.ok()) {
          *result = Status::Internal("cannot read the freeze list: " + frozen.status().message());
        } else if (*frozen) {
          *result = Status::PermissionDenied(store::FrozenMessage(**frozen, (*result)->name));
        }
      }
      net::io_context& ioc = *self->state_->ioc;
      net::post(ioc, [self = std::move(self), gen, result] {  // as in ServeMetrics
        if (self->Stale(gen)) return;
        self->OnAuthenticated(std::move(*result));
      });
    });
  }

  void AuthFailed(std::string_view reason, const Status& status) {
    state_->metrics.CountAuthFailure(reason);
    LogWarn("auth_failure", {{"id", ex_->id},
                                      {"reason", std::string(reason)},
                                      {"remote", remote_},
                                      {"path", ex_->path},
                                      {"message", status.message()}});
    bool close = !parser_->is_done();
    if (status.code() == Code::kPermissionDenied) {
      return SendSimple(403, "agentgate: " + status.message() + "\n", close);
    }
    if (reason == "unavailable") {  // OIDC keys not there, stale or being refreshed
      return SendSimple(503, "agentgate: " + status.message() + "; retry shortly\n", close, {},
                        false, /*retry=*/true);
    }
    if (reason == "error") {
      return SendSimple(503, "agentgate: authentication is unavailable, retry later\n", close);
    }
    SendSimple(401, "agentgate: " + status.message() + "\n", close, "text/plain; charset=utf-8",
               /*challenge=*/true);
  }

  void OnAuthenticated(Result<identity::Identity> result) {
    if (!result.ok()) {
      Code code = result.status().code();
      std::string_view reason = code == Code::kUnauthenticated    ? "invalid"
                                : code == Code::kPermissionDenied ? "forbidden"
                                : code == Code::kUnavailable      ? "unavailable"
                                                                  : "error";
      return AuthFailed(reason, result.status());
    }
    ex_->identity = std::move(result).value();
    const std::string& who = ex_->identity->name;
    bool close = !parser_->is_done();
    if (state_->stopping) return SendSimple(503, "agentgate: server is stopping\n", close);
    if (state_->in_flight >= limits().max_concurrent) {
      return SendSimple(503, "agentgate: server busy, retry later\n", close, {}, false, true);
    }
    auto it = state_->per_identity.find(who);
    if (it != state_->per_identity.end() && it->second >= limits().max_concurrent_per_identity) {
      return SendSimple(429, "agentgate: too many concurrent requests for " + who + "\n", close, {},
                        false, true);
    }
    ex_->slot = Slot(state_.get(), who);
    StartChild();
  }

  // ---- the CGI bridge
  void StartChild() {
    const auto& req = parser_->get();
    CgiRequest cgi;
    cgi.method = ex_->method;
    cgi.route = &ex_->match;
    cgi.content_type = std::string(req[http::field::content_type]);
    std::vector<std::string_view> codings;
    for (auto [it, end] = req.equal_range(http::field::content_encoding); it != end; ++it) {
      codings.emplace_back(it->value().data(), it->value().size());
    }
    Result<BodyEncoding> encoding = ParseContentEncoding(codings);
    if (!encoding.ok()) {
      return SendSimple(415, "agentgate: " + encoding.status().message() + "\n", !parser_->is_done());
    }
    bool inflate = *encoding == BodyEncoding::kGzip && !parser_->is_done();
    if (!inflate && !parser_->chunked() && parser_->content_length()) {
      cgi.content_length = *parser_->content_length();
    }
    cgi.git_protocol = std::string(req["Git-Protocol"]);
    cgi.remote_addr = remote_;
    cgi.request_id = ex_->id;
    cgi.identity = &*ex_->identity;
    auto env = BuildCgiEnv(cgi, *state_->config, state_->config_path, state_->server_key,
                           state_->env_path, state_->env_home);
    auto child = CgiChild::Spawn(*state_->ioc, state_->config->git_http_backend, env);
    if (!child.ok()) {
      LogError("spawn_failed", {{"id", ex_->id}, {"error", child.status().ToString()}});
      return SendSimple(500, "agentgate: cannot start the git backend\n", !parser_->is_done());
    }
    ex_->child = std::move(child).value();
    ex_->in_buf.reset(new char[kIoChunk]);
    ex_->out_buf.reset(new char[kIoChunk]);
    ex_->err_buf.reset(new char[kStderrChunk]);
    if (inflate) {
      ex_->inflater = std::make_unique<GzipInflater>(limits().max_inflated_body_bytes);
      ex_->plain_buf.reset(new char[kIoChunk]);
    }
    uint64_t gen = gen_;
    ex_->child->AsyncWaitExit([self = Self(), gen](int code) { self->OnChildExit(gen, code); });
    ReadStderr();
    ReadStdout();
    if (parser_->is_done()) {
      ex_->child->CloseStdin();
      ex_->body_done = ex_->body_complete = true;
      WatchDisconnect();
      return;
    }
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      write_pending_ = true;
      net::async_write(stream_, net::buffer(kContinue, sizeof kContinue - 1),
                       [self = Self(), gen](const error_code& ec, size_t) {
                         self->write_pending_ = false;
                         if (self->Stale(gen)) return;
                         if (ec) return self->Abort(0, "", "client_gone");
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  // Request body -> child stdin, one chunk at a time: the next socket read
  // starts only when the child took the previous chunk (backpressure).
  void ReadBody() {
    auto& body = parser_->get().body();
    body.data = ex_->in_buf.get();
    body.size = kIoChunk;
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = Self(), gen = gen_](error_code ec, size_t) { self->OnBody(gen, ec); });
  }

  void OnBody(uint64_t gen, error_code ec) {
    if (Stale(gen)) return;
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      return Abort(413, "agentgate: request body too large\n", "body_limit");
    }
    if (ec) {
      Fail(ec, "read body", ex_->id);
      return Abort(0, "", "client_gone");
    }
    size_t n = kIoChunk - parser_->get().body().size;
    Touch();
    ex_->bytes_in += n;
    if (ex_->inflater) {
      ex_->inflater->Feed(ex_->in_buf.get(), n);
      return Inflate(gen);
    }
    if (n == 0 || ex_->discarding) return AfterStdinWrite(gen, {});
    ex_->child->AsyncWriteStdin(ex_->in_buf.get(), n, [self = Self(), gen](const error_code& ec, size_t) {
      self->AfterStdinWrite(gen, ec);
    });
  }

  void AfterStdinWrite(uint64_t gen, const error_code& ec) {
    if (Stale(gen)) return;
    if (ec) {
      // The child stopped reading (it answered early): read and drop the rest
      // of the body (still bounded by max_body and the timeouts) so the
      // client can read the answer.
      ex_->child->CloseStdin();
      ex_->discarding = true;
    }
    Touch();
    if (parser_->is_done()) {
      if (!ex_->discarding) ex_->child->CloseStdin();
      ex_->body_done = ex_->body_complete = true;
      WatchDisconnect();
      return Pump();
    }
    ReadBody();
  }

  // gzip body -> child stdin: the input just read is inflated one 64 KiB
  // buffer at a time, each written before the next is made (backpressure).
  // Past max_inflated_body: 413, the child is killed, nothing more is
  // inflated. The count goes on while the body is being dropped, so the
  // answer does not depend on when the child stopped reading.
  void Inflate(uint64_t gen) {
    if (Stale(gen)) return;
    Result<size_t> out = ex_->inflater->Next(ex_->plain_buf.get(), kIoChunk);
    if (!out.ok()) {
      if (out.status().code() == Code::kResourceExhausted) {
        return Abort(413, "agentgate: request body too large once decompressed\n",
                     "inflated_body_limit");
      }
      return Abort(400, "agentgate: bad gzip request body\n", "bad_gzip");
    }
    if (*out == 0) {  // this input is used up
      if (parser_->is_done() && !ex_->inflater->finished()) {
        return Abort(400, "agentgate: truncated gzip request body\n", "bad_gzip");
      }
      return AfterStdinWrite(gen, {});
    }
    if (ex_->discarding) {  // yield between buffers: inflating is CPU work
      net::post(*state_->ioc, [self = Self(), gen] { self->Inflate(gen); });
      return;
    }
    ex_->child->AsyncWriteStdin(ex_->plain_buf.get(), *out, [self = Self(), gen](const error_code& ec, size_t) {
      if (self->Stale(gen)) return;
      if (ec && !self->ex_->discarding) {  // the child answered early: drop the rest
        self->ex_->child->CloseStdin();
        self->ex_->discarding = true;
      }
      self->Touch();
      self->Inflate(gen);
    });
  }

  // Child stdout -> response. At most one buffer is held: the next pipe read
  // starts only when the socket took the previous chunk (backpressure).
  void ReadStdout() {
    ex_->child->AsyncReadStdout(ex_->out_buf.get(), kIoChunk,
                                [self = Self(), gen = gen_](const error_code& ec, size_t n) {
                                  self->OnStdout(gen, ec, n);
                                });
  }

  void OnStdout(uint64_t gen, const error_code& ec, size_t n) {
    if (Stale(gen)) return;
    const char* data = ex_->out_buf.get();
    size_t len = n;
    if (n > 0) Touch();
    if (!ex_->cgi.done() && len > 0) {
      Result<size_t> used = ex_->cgi.Feed(std::string_view(data, len));
      if (!used.ok()) {
        LogError("bad_cgi_header", {{"id", ex_->id}, {"error", used.status().message()}});
        return Abort(502, "agentgate: the git backend failed\n", "bad_cgi_header");
      }
      data += *used;
      len -= *used;
    }
    ex_->pending = data;
    ex_->pending_len = len;
    if (ec) {
      if (ec != net::error::eof) Fail(ec, "read child stdout", ex_->id);
      ex_->stdout_eof = true;
      if (!ex_->cgi.done()) return Abort(502, "agentgate: the git backend failed\n", "no_cgi_header");
    }
    if (!ex_->cgi.done()) return ReadStdout();
    Pump();
  }

  // Moves the response forward by one step; called whenever something changed.
  void Pump() {
    if (!ex_->response_started) return StartResponse();
    if (write_pending_) return;
    uint64_t gen = gen_;
    if (ex_->pending_len > 0) {
      size_t len = std::exchange(ex_->pending_len, 0);
      write_pending_ = true;
      net::async_write(stream_, http::make_chunk(net::buffer(ex_->pending, len)),
                       [self = Self(), gen, len](const error_code& ec, size_t) {
                         self->write_pending_ = false;
                         if (self->Stale(gen)) return;
                         if (ec) {
                           Fail(ec, "write response", self->ex_->id);
                           return self->Abort(0, "", "client_gone");
                         }
                         self->Touch();
                         self->ex_->bytes_out += len;
                         self->Pump();
                       });
      return;
    }
    if (ex_->stdout_eof) {
      write_pending_ = true;
      net::async_write(stream_, http::make_chunk_last(), [self = Self(), gen](const error_code& ec, size_t) {
        self->write_pending_ = false;
        if (self->Stale(gen)) return;
        if (ec) {
          Fail(ec, "write response", self->ex_->id);
          return self->Abort(0, "", "client_gone");
        }
        self->ex_->response_done = true;
        self->MaybeFinish();
      });
      return;
    }
    ReadStdout();
  }

  // The response header goes out once the request body is passed on and the
  // child's CGI header is complete: until then an error (413, 408) can still
  // be a clean HTTP answer.
  void StartResponse() {
    if (ex_->response_started || !ex_->body_done || !ex_->cgi.done() || write_pending_) return;
    ex_->response_started = true;
    ex_->status = ex_->cgi.status();
    ex_->res = std::make_unique<http::response<http::empty_body>>();
    auto& res = *ex_->res;
    res.version(11);
    res.result(static_cast<unsigned>(ex_->status));
    res.set(http::field::server, "agentgate");
    for (const auto& [name, value] : ex_->cgi.headers()) {
      if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding") ||
          beast::iequals(name, "connection") || beast::iequals(name, "keep-alive")) {
        continue;
      }
      res.insert(name, value);
    }
    res.chunked(true);
    ex_->keep_alive = ex_->body_complete && parser_->get().keep_alive() && !state_->stopping;
    res.keep_alive(ex_->keep_alive);
    ex_->serializer = std::make_unique<http::response_serializer<http::empty_body>>(res);
    write_pending_ = true;
    http::async_write_header(stream_, *ex_->serializer,
                             [self = Self(), gen = gen_](const error_code& ec, size_t) {
                               self->write_pending_ = false;
                               if (self->Stale(gen)) return;
                               if (ec) {
                                 Fail(ec, "write header", self->ex_->id);
                                 return self->Abort(0, "", "client_gone");
                               }
                               self->Touch();
                               self->Pump();
                             });
  }

  // Child stderr -> log lines, bounded in length and count.
  void ReadStderr() {
    ex_->child->AsyncReadStderr(ex_->err_buf.get(), kStderrChunk,
                                [self = Self(), gen = gen_](const error_code& ec, size_t n) {
                                  self->OnStderr(gen, ec, n);
                                });
  }

  void OnStderr(uint64_t gen, const error_code& ec, size_t n) {
    if (Stale(gen)) return;
    for (size_t i = 0; i < n; ++i) {
      char c = ex_->err_buf[i];
      if (c == '\n') {
        EmitStderrLine();
      } else if (ex_->err_line.size() < kStderrLineMax) {
        ex_->err_line.push_back(c);
      }
    }
    if (ec) {
      EmitStderrLine();
      ex_->stderr_eof = true;
      return MaybeFinish();
    }
    ReadStderr();
  }

  void EmitStderrLine() {
    if (ex_->err_line.empty()) return;
    if (++ex_->err_lines <= kStderrLinesMax) {
      LogWarn("backend_stderr", {{"id", ex_->id}, {"line", ex_->err_line}});
    }
    ex_->err_line.clear();
  }

  // A client that hangs up while the child computes: kill the child now
  // rather than at the next write.
  void WatchDisconnect() {
    ex_->watching_disconnect = true;
    socket().async_wait(tcp::socket::wait_read, [self = Self(), gen = gen_](const error_code& ec) {
      if (self->Stale(gen) || ec || self->ex_->response_done) return;
      char c;
      ssize_t r = ::recv(self->socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return self->Abort(0, "", "client_gone");
      }
      if (r < 0) return self->WatchDisconnect();
      self->ex_->watching_disconnect = false;  // pipelined data: leave it for the next request
    });
  }

  void OnChildExit(uint64_t gen, int code) {
    if (Stale(gen)) return;
    ex_->child_exited = true;
    if (ex_->match.route->kind == RouteKind::kReceivePack) {
      double seconds = std::chrono::duration<double>(ex_->child->run_time()).count();
      state_->metrics.ObserveHookSeconds(seconds);
      state_->metrics.CountPush(code == 0 && ex_->status == 200);
    }
    if (code != 0) LogWarn("backend_exit", {{"id", ex_->id}, {"code", std::to_string(code)}});
    MaybeFinish();
  }

  void MaybeFinish() {
    if (!ex_->response_done || !ex_->child_exited || !ex_->stderr_eof) return;
    if (ex_->watching_disconnect) {
      error_code ignored;
      socket().cancel(ignored);
    }
    ex_->child.reset();
    EndExchange();
  }

  // ---- ends
  void LogRequest(int status) {
    if (!ex_ || ex_->logged) return;
    ex_->logged = true;
    if (ex_->status == 0) ex_->status = status;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ex_->start).count();
    std::string code = std::to_string(ex_->status);
    std::string in = std::to_string(ex_->bytes_in), out = std::to_string(ex_->bytes_out);
    std::string ms_text = std::to_string(ms);
    LogInfo("request", {{"id", ex_->id},
                                 {"method", ex_->method},
                                 {"path", ex_->path},
                                 {"status", code},
                                 {"bytes_in", in},
                                 {"bytes_out", out},
                                 {"ms", ms_text},
                                 {"identity", ex_->identity ? ex_->identity->name : "-"},
                                 {"remote", remote_}});
    state_->metrics.CountRequest(ex_->route_name, ex_->status);
    state_->metrics.AddBytes(ex_->bytes_in, ex_->bytes_out);
  }

  void EndExchange() {
    LogRequest(ex_->status);
    bool again = ex_->keep_alive && !state_->stopping;
    ex_.reset();
    ++gen_;
    if (again) return ReadHeader();
    CloseGracefully();
  }

  // A short plain-text answer; `close` when the request body was not read.
  void SendSimple(int status, std::string body, bool close, std::string content_type = {},
                  bool challenge = false, bool retry = false) {
    ex_->status = status;
    ex_->keep_alive = !close && !state_->stopping && parser_ && parser_->is_header_done() &&
                      parser_->get().keep_alive();
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(http::field::server, "agentgate");
    res->set(http::field::content_type,
             content_type.empty() ? "text/plain; charset=utf-8" : content_type);
    if (challenge) res->set(http::field::www_authenticate, "Basic realm=\"agentgate\"");
    if (retry) res->set(http::field::retry_after, "1");
    res->keep_alive(ex_->keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    ex_->bytes_out = res->body().size();
    write_pending_ = true;
    http::async_write(stream_, *res, [self = Self(), res, gen = gen_](const error_code& ec, size_t) {
      self->write_pending_ = false;
      if (self->Stale(gen)) return;
      if (ec) {
        Fail(ec, "write response", self->ex_->id);
        self->LogRequest(0);
        return self->Close();
      }
      self->EndExchange();
    });
  }

  // Stops the exchange: kills the child and answers `status` when no
  // response has started (0: just close).
  void Abort(int status, std::string body, std::string_view reason) {
    if (closed_ || !ex_) return;
    LogWarn("abort", {{"id", ex_->id}, {"reason", std::string(reason)}});
    ex_->child.reset();  // SIGKILL and reap
    ++gen_;              // every pending handler of this exchange is now stale
    if (status != 0 && !ex_->response_started && !write_pending_) {
      return SendSimple(status, std::move(body), /*close=*/true);
    }
    LogRequest(status == 0 ? 499 : status);
    Close();
  }

  void CloseGracefully() {
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    Close();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    timer_.cancel();
    if (ex_ && ex_->child) ex_->child.reset();
    socket().close(ec);
    ForgetConnection();  // the descriptor is free: the slot is too
  }

  void ForgetConnection() {
    if (conn_ == 0) return;
    state_->connections->Remove(conn_);
    state_->live.erase(conn_);
    state_->metrics.AddConnections(-1);
    conn_ = 0;
  }

  std::shared_ptr<ServerState> state_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  net::steady_timer timer_;
  std::string remote_;
  ConnectionTable::Id conn_;  // 0 once forgotten
  uint64_t requests_ = 0;     // request headers received on this connection
  Phase phase_ = Phase::kWaiting;
  Clock::time_point header_deadline_, request_deadline_, last_activity_;
  std::unique_ptr<Exchange> ex_;
  uint64_t gen_ = 0;
  bool write_pending_ = false;
  bool closed_ = false;
};

// A descriptor held in reserve (/dev/null) so that, at the process's
// open-file limit, a pending connection can still be accepted and closed
// instead of waking the acceptor again and again.
class SpareDescriptor {
 public:
  SpareDescriptor() { Open(); }
  ~SpareDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  SpareDescriptor(const SpareDescriptor&) = delete;
  SpareDescriptor& operator=(const SpareDescriptor&) = delete;

  // Frees the spare, accepts one pending connection from `listen_fd` (non-
  // blocking), writes `answer` if any, closes it and takes the spare again.
  // False when nothing could be done (no spare and none to be had).
  bool AcceptAndClose(int listen_fd, std::string_view answer) {
    if (fd_ < 0 && !Open()) return false;
    ::close(fd_);
    fd_ = -1;
    int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int accept_errno = errno;
    if (c >= 0) {
      if (!answer.empty()) (void)::send(c, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      ::close(c);
    }
    Open();  // another thread may have taken the descriptor: retried next time
    return c >= 0 || accept_errno == EAGAIN || accept_errno == EWOULDBLOCK;
  }

 private:
  bool Open() {
    fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd_ >= 0;
  }
  int fd_ = -1;
};

// Accepts connections and admits them against the caps (max_connections,
// max_connections_per_address): over a cap, the oldest idle connection (of
// that address, else overall) is closed to make room; when every one is
// busy the newcomer gets a 503 and is closed. At the open-file limit, an
// idle connection is shed, else the spare descriptor drains one pending
// connection; only when neither helps does it pause (kAcceptBackoff).
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(std::shared_ptr<ServerState> state, tcp::acceptor acceptor)
      : state_(std::move(state)), acceptor_(std::move(acceptor)), backoff_(*state_->ioc) {
    error_code ignored;
    acceptor_.native_non_blocking(true, ignored);  // the spare's accept4 must not block
  }

  void Accept() {
    acceptor_.async_accept(*state_->ioc, [self = shared_from_this()](const error_code& ec,
                                                                     tcp::socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  void Stop() {
    error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
  }

 private:
  void OnAccept(const error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || state_->stopping) return;
    if (ec == net::error::no_descriptors || ec.value() == ENFILE) return OnNoDescriptors(ec);
    if (ec) {
      Report(*state_, "accept_failed", {{"error", ec.message()}});
      return Pause();
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto endpoint = socket.remote_endpoint(ignored);
    std::string remote = ignored ? "-" : endpoint.address().to_string();
    std::string key = ignored ? "-" : AddressKey(endpoint.address());
    ConnectionTable::Admission admission = state_->connections->Admit(key);
    if (admission.verdict == ConnectionTable::Admission::kRefuse) {
      Refuse(std::move(socket), remote);
      return Accept();
    }
    if (admission.verdict == ConnectionTable::Admission::kShedThenAdmit) {
      Shed(admission.victim, "connection_shed", remote);
    }
    ConnectionTable::Id conn = state_->connections->Add(key);
    if (state_->tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          state_, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *state_->tls),
          remote, conn)
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(state_, beast::tcp_stream(std::move(socket)), remote,
                                                   conn)
          ->Start();
    }
    Accept();
  }

  // Over a cap with every connection busy: 503 (plain HTTP) and close.
  void Refuse(tcp::socket socket, const std::string& remote) {
    state_->metrics.CountConnectionDropped("refused");
    Report(*state_, "connection_refused", {{"remote", remote}});
    if (!state_->tls) (void)::send(socket.native_handle(), kBusy, sizeof kBusy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    error_code ignored;
    socket.close(ignored);
  }

  // Closes the idle connection `victim` for `for_remote`'s sake.
  void Shed(ConnectionTable::Id victim, std::string_view event, const std::string& for_remote) {
    auto it = state_->live.find(victim);
    std::shared_ptr<SessionBase> session = it == state_->live.end() ? nullptr : it->second.lock();
    if (session) session->Shed();  // closes the socket and forgets the entry
    state_->connections->Remove(victim);
    state_->live.erase(victim);
    state_->metrics.CountConnectionDropped("shed");
    Report(*state_, event, {{"for", for_remote}});
  }

  // EMFILE / ENFILE: make room rather than spin or flood the log.
  void OnNoDescriptors(const error_code& ec) {
    Report(*state_, "accept_no_descriptors", {{"error", ec.message()}});
    if (ConnectionTable::Id victim = state_->connections->OldestIdle()) {
      Shed(victim, "connection_shed", "-");
      return Accept();  // the freed descriptor takes the pending connection
    }
    if (spare_.AcceptAndClose(acceptor_.native_handle(), state_->tls ? "" : kBusy)) {
      state_->metrics.CountConnectionDropped("no_descriptors");
      // Linux reports EMFILE before it looks for a pending connection: accept
      // again only when one is there, or this would spin.
      acceptor_.async_wait(tcp::acceptor::wait_read, [self = shared_from_this()](const error_code& e) {
        if (e == net::error::operation_aborted || self->state_->stopping) return;
        if (e) return self->Pause();
        self->Accept();
      });
      return;
    }
    Pause();
  }

  void Pause() {
    backoff_.expires_after(kAcceptBackoff);
    backoff_.async_wait([self = shared_from_this()](const error_code& e) {
      if (!e) self->Accept();
    });
  }

  std::shared_ptr<ServerState> state_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  SpareDescriptor spare_;
};

Result<tcp::endpoint> ParseListen(const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return Status::InvalidArgument("listen: expected [addr]:port, got " + listen);
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("listen: expected host:port, got " + listen);
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("listen: bad address '" + host + "'");
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) return Status::InvalidArgument("listen: bad port '" + port + "'");
  return tcp::endpoint(address, static_cast<unsigned short>(p));
}

// Each connection holds a descriptor and each git request about four more
// (pipes, pidfd); the rest of the daemon needs a few dozen. A soft limit
// below that means EMFILE (handled, but better avoided): say so at start.
void WarnIfFewDescriptors(const config::ServerLimits& limits) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
  uint64_t needed = uint64_t{limits.max_connections} + 4ull * limits.max_concurrent + 64;
  if (rl.rlim_cur >= needed) return;
  LogWarn("fd_limit", {{"limit", std::to_string(rl.rlim_cur)},
                       {"needed", std::to_string(needed)},
                       {"hint", "raise LimitNOFILE or lower limits.max_connections"}});
}

std::string EndpointText(const tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

Status RunServer(std::shared_ptr<const config::Config> config, const ServerOptions& options) {
  auto state = std::make_shared<ServerState>();
  state->config = config;
  state->connections.emplace(ConnectionTable::Limits{config->limits.max_connections,
                                                     config->limits.max_connections_per_address});
  state->config_path = options.config_path;
  if (const char* p = std::getenv("PATH")) state->env_path = p;
  if (const char* h = std::getenv("HOME")) state->env_home = h;
  AG_ASSIGN_OR_RETURN(state->server_key, LoadOrCreateServerKey(config->key_path()));
  identity::AuthenticatorOptions auth_options;
  // From each discovery issuer's fetch thread (Metrics and the log are thread-safe).
  auth_options.on_fetch = [metrics = &state->metrics](const std::string& issuer, const Status& st) {
    metrics->CountOidcFetch(issuer, st.ok());
    if (st.ok()) {
      LogInfo("oidc_keys_fetched", {{"issuer", issuer}});
    } else {
      LogWarn("oidc_fetch_failed", {{"issuer", issuer}, {"error", st.ToString()}});
    }
  };
  AG_ASSIGN_OR_RETURN(state->auth, identity::Authenticator::Create(*config, auth_options));
  state->freezes = std::make_unique<store::FreezeCache>(config->db_path());
  AG_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(config->listen));

  std::optional<ssl::context> tls;  // outlives the io_context and its sessions
  if (!config->tls_cert.empty() && !config->tls_key.empty()) {
    tls.emplace(ssl::context::tls_server);
    AG_RETURN_IF_ERROR(ConfigureTls(tls->native_handle()));
    AG_RETURN_IF_ERROR(LoadTlsIdentity(tls->native_handle(), config->tls_cert, config->tls_key));
    state->tls = &*tls;
  }

  net::io_context ioc(1);
  net::thread_pool blocking(2);
  state->ioc = &ioc;
  state->blocking = &blocking;

  tcp::acceptor acceptor(ioc);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("listen on " + config->listen + ": " + ec.message());
  tcp::endpoint bound = acceptor.local_endpoint(ec);
  auto listener = std::make_shared<Listener>(state, std::move(acceptor));

  net::steady_timer grace(ioc);
  state->on_drained = [&ioc] { ioc.stop(); };
  // Burst summaries: while some burst is open, one pass per window.
  net::steady_timer throttle_timer(ioc);
  bool throttle_armed = false;
  state->arm_throttle = [&] {
    if (throttle_armed || !state->throttle.active()) return;
    throttle_armed = true;
    throttle_timer.expires_after(state->throttle.window());
    throttle_timer.async_wait([&](const error_code& e) {
      throttle_armed = false;
      if (e) return;
      for (const auto& [event, count] : state->throttle.Due(Clock::now())) {
        LogWarn(event, {{"count", std::to_string(count)}, {"note", "more of the same, in the last window"}});
      }
      state->arm_throttle();
    });
  };
  WarnIfFewDescriptors(config->limits);
  // SIGHUP: the TLS certificate and key are read again (a renewed
  // certificate, no restart); never a shutdown.
  net::signal_set hangups(ioc, SIGHUP);
  std::function<void()> on_hangup = [&] {
    hangups.async_wait([&](const error_code& e, int) {
      if (e) return;
      if (!tls) {
        LogInfo("sighup", {{"note", "nothing to reload (no tls)"}});
      } else if (Status st = ReloadTlsIdentity(tls->native_handle(), config->tls_cert, config->tls_key); st.ok()) {
        LogInfo("tls_reloaded", {{"cert", config->tls_cert}});
      } else {
        LogError("tls_reload_failed", {{"error", st.ToString()}, {"note", "serving the previous certificate"}});
      }
      on_hangup();
    });
  };
  on_hangup();
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& e, int signo) {
    if (e) return;
    LogInfo("shutdown", {{"signal", std::to_string(signo)}});
    state->stopping = true;
    listener->Stop();
    hangups.cancel();
    if (state->sessions == 0) return ioc.stop();
    grace.expires_after(std::chrono::seconds(options.shutdown_grace_seconds));
    grace.async_wait([&ioc](const error_code& e2) {
      if (!e2) ioc.stop();
    });
  });

  listener->Accept();
  std::string where = EndpointText(bound);
  LogInfo("listening", {{"addr", where}, {"tls", tls ? "on" : "off"}});
  if (options.on_listening) options.on_listening(where);
  ioc.run();
  blocking.join();
  state->on_drained = nullptr;
  state->arm_throttle = nullptr;
  LogInfo("stopped", {});
  return Status::Ok();  // ioc's destructor ends the remaining sessions (children killed and reaped)
}

}  // namespace ag::mirror
