// Result<T>: the error convention of the data path and of pure functions.
//
// Expected failures (bad input, an unreachable endpoint, a full disk) are
// values: a function returns Result<T>, the caller decides. Exceptions are
// reserved for broken invariants and never cross a component boundary.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace promsidecar {

// Error carries one human sentence meant for a user: it names the object,
// the field and, where there is one, the fix.
struct Error {
  std::string message;
};

// The message of an error, for logs and test failures. A typed error type
// (e.g. kube::ApiError) provides its own ErrorMessage, found by ADL.
inline const std::string& ErrorMessage(const Error& e) {
  return e.message;
}

// A value or an error. E is Error unless the caller must branch on more than
// a sentence: the Kubernetes client returns Result<T, kube::ApiError> so its
// callers can tell NotFound from Conflict.
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(E error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  decltype(auto) message() const { return ErrorMessage(error()); }

 private:
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    assert(!ok_);
    return error_;
  }
  decltype(auto) message() const { return ErrorMessage(error()); }

 private:
  E error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error MakeError(std::string message) {
  return Error{std::move(message)};
}

}  // namespace promsidecar
