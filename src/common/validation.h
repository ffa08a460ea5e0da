#pragma once
// AWS's validation errors, as its services phrase them for input that breaks a
// constraint of the API model:
//   1 validation error detected: Value 'x' at 'keyId' failed to satisfy constraint: Member
//   must have length less than or equal to 2048
//   2 validation errors detected: …; …
// gathered member by member and returned as one Status. The error name is the
// protocol's: "ValidationException" (JSON services such as KMS) or "ValidationError"
// (Query services such as IAM and STS).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffer {

// The code points of `s`, or nullopt when `s` is not valid UTF-8 (overlong forms,
// surrogates and values past U+10FFFF are invalid).
std::optional<std::u32string> DecodeUtf8(std::string_view s);

// The length of text as AWS's models count it: code points; invalid UTF-8 is
// counted in bytes (a pattern check refuses it).
size_t CharacterCount(std::string_view s);

class ValidationErrors {
 public:
  // `error_name`: the Status's error name; its code is kInvalidArgument.
  explicit ValidationErrors(std::string error_name) : error_name_(std::move(error_name)) {}

  // Value '<value>' at '<field>' failed to satisfy constraint: <constraint>
  void Add(std::string_view field, std::string_view value, std::string_view constraint);
  // For sensitive members the value is not shown: "Value at '<field>' failed …".
  void AddSensitive(std::string_view field, std::string_view constraint);
  // A required member that is absent or null:
  // "Value null at '<field>' failed to satisfy constraint: Member must not be null".
  void AddNull(std::string_view field);

  // Lengths of text in characters (CharacterCount); byte strings (blobs,
  // plaintexts) are checked by their size by the caller.
  void Length(std::string_view field, std::string_view value, size_t min, size_t max);
  void Range(std::string_view field, long long value, long long min, long long max);
  void Enum(std::string_view field, std::string_view value,
            const std::vector<std::string_view>& allowed);
  // A pattern failure, named as the model writes the pattern.
  void Pattern(std::string_view field, std::string_view value, bool matches,
               std::string_view pattern);

  bool ok() const { return errors_.empty(); }
  // Whether an error names `field` already (a member found null or malformed is
  // not checked further).
  bool Reported(std::string_view field) const;
  Status ToStatus() const;  // OK when nothing was added

 private:
  void Push(std::string_view field, std::string error);

  std::string error_name_;
  std::vector<std::string> errors_;
  std::vector<std::string> fields_;  // of each error
};

}  // namespace coffer
