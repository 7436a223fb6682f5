// Result<T>: a value or an Error, shaped like std::expected (absent from g++ 12's C++20).
// Expected failures (bad input, unknown watch, store unavailable, full queue) travel as
// values of this type; exceptions are reserved for start-up and configuration.
// Thread-compatible value type; copying costs what copying T or the message costs.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace overdue::base {

enum class ErrorCode {
  kInvalidArgument,    // the caller's input breaks a rule; the message names field and rule
  kNotFound,           // the thing asked for does not exist
  kAlreadyExists,      // a create collided with an existing thing
  kConflict,           // the request is ambiguous or contradicts current state
  kUnavailable,        // a dependency (store, disk) failed; retrying later may succeed
  kResourceExhausted,  // a queue or limit is full
  kInternal,           // a broken invariant; should never reach a user
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;
};

inline Error InvalidArgument(std::string message) {
  return {ErrorCode::kInvalidArgument, std::move(message)};
}
inline Error NotFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
inline Error Unavailable(std::string message) {
  return {ErrorCode::kUnavailable, std::move(message)};
}
inline Error Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace overdue::base
