#include "common/validation.h"

#include <gtest/gtest.h>

namespace coffer {
namespace {

TEST(ValidationErrorsTest, NothingAddedIsOk) {
  ValidationErrors v("ValidationException");
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(v.ToStatus().ok());
}

TEST(ValidationErrorsTest, OneErrorInAwsWordsUnderTheProtocolsName) {
  ValidationErrors v("ValidationException");
  v.Length("keyId", std::string(2049, 'k'), 1, 2048);
  Status s = v.ToStatus();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.error_name(), "ValidationException");
  EXPECT_EQ(s.message(), "1 validation error detected: Value '" + std::string(2049, 'k') +
                             "' at 'keyId' failed to satisfy constraint: Member must have length "
                             "less than or equal to 2048");
}

TEST(ValidationErrorsTest, SeveralErrorsJoinedInOrder) {
  ValidationErrors v("ValidationError");
  v.AddNull("roleName");
  v.Range("durationSeconds", 10, 900, 43200);
  v.Enum("status", "Expired", {"Active", "Inactive"});
  v.Pattern("path", "x", false, "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)");
  v.Pattern("userName", "bob", true, "[\\w+=,.@-]+");  // matches: nothing added
  v.AddSensitive("plaintext", "Member must have length less than or equal to 4096");
  Status s = v.ToStatus();
  EXPECT_EQ(s.error_name(), "ValidationError");
  EXPECT_EQ(s.message(),
            "5 validation errors detected: "
            "Value null at 'roleName' failed to satisfy constraint: Member must not be null; "
            "Value '10' at 'durationSeconds' failed to satisfy constraint: Member must have value "
            "greater than or equal to 900; "
            "Value 'Expired' at 'status' failed to satisfy constraint: Member must satisfy enum "
            "value set: [Active, Inactive]; "
            "Value 'x' at 'path' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); "
            "Value at 'plaintext' failed to satisfy constraint: Member must have length less "
            "than or equal to 4096");
}

TEST(ValidationErrorsTest, LengthsCountCharactersNotBytes) {
  ValidationErrors v("ValidationException");
  std::string two_hundred_fifty_six_e_acute;
  for (int i = 0; i < 256; ++i) two_hundred_fifty_six_e_acute += "\xC3\xA9";
  v.Length("tagValue", two_hundred_fifty_six_e_acute, 0, 256);
  EXPECT_TRUE(v.ok());
  v.Length("tagValue", two_hundred_fifty_six_e_acute + "\xC3\xA9", 0, 256);
  EXPECT_FALSE(v.ok());
}

TEST(Utf8Test, DecodesAndRefusesWhatIsNotUtf8) {
  EXPECT_EQ(DecodeUtf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x94\x91"),
            std::u32string({U'a', U'\u00E9', U'\u20AC', U'\U0001F511'}));
  EXPECT_EQ(DecodeUtf8("\xC0\xAF"), std::nullopt);          // overlong '/'
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80"), std::nullopt);      // a surrogate
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80"), std::nullopt);  // past U+10FFFF
  EXPECT_EQ(DecodeUtf8("\xE2\x82"), std::nullopt);          // cut short
  EXPECT_EQ(CharacterCount("\xC3\xA9t\xC3\xA9"), 3u);
  EXPECT_EQ(CharacterCount("\xFF\xFE"), 2u);  // not UTF-8: bytes
}

}  // namespace
}  // namespace coffer
