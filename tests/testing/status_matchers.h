#pragma once
// Test helpers for Status and Result<T>: readable printing, matchers
// (IsOk, IsError(name, message)) and ASSERT_OK / EXPECT_OK / ASSERT_OK_AND_ASSIGN.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffer {

inline void PrintTo(const Status& st, std::ostream* os) { *os << (st.ok() ? "OK" : st.ToString()); }
template <typename T>
void PrintTo(const Result<T>& r, std::ostream* os) {
  *os << (r.ok() ? std::string("OK (a value)") : r.status().ToString());
}

}  // namespace coffer

namespace coffer::testing {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

MATCHER(IsOk, "is OK") {
  const Status& st = ::coffer::testing::StatusOf(arg);
  if (!st.ok()) *result_listener << "which is " << st.ToString();
  return st.ok();
}

// An OK Result whose value matches `m` (a matcher or a value).
MATCHER_P(IsOkAndHolds, m, "") {
  if (!arg.ok()) {
    *result_listener << "which is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(m, arg.value(), result_listener);
}

// The AWS error name and the exact message.
MATCHER_P2(IsError, name, message, "") {
  const Status& st = ::coffer::testing::StatusOf(arg);
  *result_listener << "which is " << (st.ok() ? std::string("OK") : st.ToString());
  return !st.ok() && st.error_name() == std::string_view(name) &&
         st.message() == std::string_view(message);
}

}  // namespace coffer::testing

#define COFFER_TEST_CONCAT_INNER(a, b) a##b
#define COFFER_TEST_CONCAT(a, b) COFFER_TEST_CONCAT_INNER(a, b)
// ASSERT_OK_AND_ASSIGN(auto x, MakeX()): binds the value or fails the test.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(COFFER_TEST_CONCAT(_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                    \
  auto tmp = (expr);                                                 \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::coffer::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::coffer::testing::IsOk())
