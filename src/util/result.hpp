#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace util {

// The error side of a Result, so `return util::Err(e);` reads as what it is.
template <typename E>
struct Err {
  Err(E e) : error(std::move(e)) {}  // NOLINT: implicit on purpose
  E error;
};
template <typename E>
Err(E) -> Err<E>;

// An expected value or an error: the way every module reports an expected failure.
// Accessing value() of an error (or error() of a value) is a programmer error (asserts).
template <typename T, typename E>
class Result {
 public:
  Result(T value) : m_data(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  template <typename F, typename = std::enable_if_t<std::is_convertible_v<F, E>>>
  Result(Err<F> err) : m_data(std::in_place_index<1>, E(std::move(err.error))) {}  // NOLINT

  bool ok() const { return m_data.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(m_data);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(m_data);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(m_data));
  }
  const E& error() const {
    assert(!ok());
    return std::get<1>(m_data);
  }
  E& error() {
    assert(!ok());
    return std::get<1>(m_data);
  }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  T value_or(T fallback) const { return ok() ? std::get<0>(m_data) : std::move(fallback); }

 private:
  std::variant<T, E> m_data;
};

// Result<void, E>: success carries nothing.
template <typename E>
class Result<void, E> {
 public:
  Result() = default;
  template <typename F, typename = std::enable_if_t<std::is_convertible_v<F, E>>>
  Result(Err<F> err) : m_error(E(std::move(err.error))), m_failed(true) {}  // NOLINT

  bool ok() const { return !m_failed; }
  explicit operator bool() const { return ok(); }
  const E& error() const {
    assert(m_failed);
    return m_error;
  }

 private:
  E m_error{};
  bool m_failed = false;
};

}  // namespace util
