// Status and Result<T>: agentgate's errors are values, never exceptions.
//
// A Status is either OK or carries a code and a human message. Result<T> holds
// a T or a non-OK Status. Both are cheap to move and [[nodiscard]]: dropping
// one on the floor is a compile warning. Concerns convert library errors
// (libgit2, SQLite, yaml-cpp, Boost) into these at the call site.
//
// Thread-safety: const methods may be called from several threads at once;
// mutating one object from two threads needs external synchronisation.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ag {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong (bad policy, bad ref name)
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // create of something that is there
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // no or bad credentials
  kFailedPrecondition,  // state does not allow it (already decided, expired)
  kConflict,            // a concurrent change won (lease lost, upstream moved)
  kUnavailable,         // a peer is down or unreachable; retrying may help
  kResourceExhausted,   // a configured limit was hit
  kDeadlineExceeded,    // a timeout
  kCorruption,          // stored data is damaged
  kIo,                  // the OS refused a read or write
  kInternal,            // a bug or a library failure we cannot classify
};

// Returns a stable lower-case name for `code` ("invalid_argument", ...).
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) { return {Code::kPermissionDenied, std::move(msg)}; }
  static Status Unauthenticated(std::string msg) { return {Code::kUnauthenticated, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {Code::kFailedPrecondition, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {Code::kResourceExhausted, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {Code::kDeadlineExceeded, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status Io(std::string msg) { return {Code::kIo, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Holds a T or a non-OK Status. REQUIRES: a Result built from a Status is
// never built from an OK one.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ag

#define AG_CONCAT_INNER_(a, b) a##b
#define AG_CONCAT_(a, b) AG_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define AG_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::ag::Status ag_status_ = (expr);         \
    if (!ag_status_.ok()) return ag_status_;  \
  } while (0)

// `lhs = value of expr` (a Result), or return its Status.
#define AG_ASSIGN_OR_RETURN(lhs, expr) \
  AG_ASSIGN_OR_RETURN_IMPL_(AG_CONCAT_(ag_result_, __LINE__), lhs, expr)
#define AG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
