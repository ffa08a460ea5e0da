// KeyService: aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases),
// tags (TagResource, UntagResource, ListResourceTags) and key policies
// (GetKeyPolicy, PutKeyPolicy, ListKeyPolicies).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kms/key_service.h"
#include "kms_fixture.h"
#include "policy/policy.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::KmsTest;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kValidation[] = "ValidationException";
constexpr char kNotFound[] = "NotFoundException";
constexpr char kPrefixMessage[] =
    "Alias must start with the prefix \"alias/\". Please see "
    "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";

std::string ValidationMessage(std::string_view field, std::string_view value,
                              std::string_view constraint) {
  return "1 validation error detected: Value '" + std::string(value) + "' at '" +
         std::string(field) + "' failed to satisfy constraint: " + std::string(constraint);
}
std::string AliasPatternMessage(std::string_view alias) {
  return ValidationMessage("aliasName", alias,
                           "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$");
}

class AliasTest : public KmsTest {
 protected:
  std::vector<std::string> AliasNames(std::optional<std::string> key_id = std::nullopt) {
    std::vector<std::string> names;
    auto listed = kms().ListAliases(std::move(key_id), 100, std::nullopt);
    EXPECT_THAT(listed, IsOk());
    if (!listed.ok()) return names;
    EXPECT_FALSE(listed->truncated);
    for (const auto& a : listed->aliases) names.push_back(a.alias_name);
    return names;
  }
  // Creates `n` aliases "alias/<prefix>-NNN" for `key`.
  void CreateAliases(const std::string& key, const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "alias/%s-%03d", prefix.c_str(), i);
      ASSERT_OK(kms().CreateAlias(name, key)) << name;
    }
  }
};

// ---- CreateAlias ---------------------------------------------------------------------

TEST_F(AliasTest, CreateAliasNamesTheKey) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/payments", k));
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().DescribeKey("alias/payments"));
  EXPECT_EQ(m.key_id, k);
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListAliases(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_EQ(listed.aliases.size(), 1u);
  const AliasListEntry& a = listed.aliases[0];
  EXPECT_EQ(a.alias_name, "alias/payments");
  EXPECT_EQ(a.alias_arn, "arn:aws:kms:us-east-1:111122223333:alias/payments");
  EXPECT_EQ(a.target_key_id, k);
  EXPECT_EQ(a.creation_date, clock_.Now());
  EXPECT_EQ(a.last_updated_date, clock_.Now());
  EXPECT_FALSE(listed.truncated);
  EXPECT_FALSE(listed.next_marker.has_value());
}

TEST_F(AliasTest, TargetMayBeNamedByUuidOrArn) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/by-uuid", k));
  ASSERT_OK(kms().CreateAlias("alias/by-arn", Arn(k)));
  std::string upper = k;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_OK(kms().CreateAlias("alias/by-upper-uuid", upper));
  EXPECT_THAT(AliasNames(k), ElementsAre("alias/by-arn", "alias/by-upper-uuid", "alias/by-uuid"));
}

TEST_F(AliasTest, AliasNameRules) {
  std::string k = NewKey();
  const std::string max_name = "alias/" + std::string(250, 'n');
  ASSERT_EQ(max_name.size(), 256u);
  for (const std::string& good :
       {std::string("alias/a"), std::string("alias/Az09:/_-"), std::string("alias/aws"),
        std::string("alias/awsx/y"), std::string("alias/a/b/c"), max_name}) {
    EXPECT_OK(kms().CreateAlias(good, k)) << good;
  }
  const std::string too_long = "alias/" + std::string(251, 'n');
  struct Case {
    std::string alias;
    std::string name;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", kValidation,
       ValidationMessage("aliasName", "", "Member must have length greater than or equal to 1")},
      {too_long, kValidation,
       ValidationMessage("aliasName", too_long,
                         "Member must have length less than or equal to 256")},
      {"payments", kValidation, kPrefixMessage},
      {"alias/", kValidation, kPrefixMessage},
      {"Alias/payments", kValidation, kPrefixMessage},
      {"aliases/payments", kValidation, kPrefixMessage},
      {"/alias/payments", kValidation, kPrefixMessage},
      {"alias/a b", kValidation, AliasPatternMessage("alias/a b")},
      {"alias/a.b", kValidation, AliasPatternMessage("alias/a.b")},
      {"alias/a*", kValidation, AliasPatternMessage("alias/a*")},
      {"alias/caf\xc3\xa9", kValidation, AliasPatternMessage("alias/caf\xc3\xa9")},
      {"alias/x\n", kValidation, AliasPatternMessage("alias/x\n")},
      {"alias/aws/payments", "InvalidAliasNameException",
       "Cannot create alias with prefix 'alias/aws/'"},
      {"alias/aws/", "InvalidAliasNameException", "Cannot create alias with prefix 'alias/aws/'"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(kms().CreateAlias(c.alias, k), IsError(c.name, c.message)) << c.alias;
  }
  EXPECT_EQ(AliasNames(k).size(), 6u);
}

TEST_F(AliasTest, AliasAlreadyExists) {
  std::string a = NewKey(), b = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/shared", a));
  const std::string message =
      "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/shared already exists";
  EXPECT_THAT(kms().CreateAlias("alias/shared", b), IsError("AlreadyExistsException", message));
  EXPECT_THAT(kms().CreateAlias("alias/shared", a), IsError("AlreadyExistsException", message));
  EXPECT_EQ(kms().DescribeKey("alias/shared")->key_id, a);
  // Names are case-sensitive.
  EXPECT_OK(kms().CreateAlias("alias/Shared", b));
  EXPECT_EQ(kms().DescribeKey("alias/Shared")->key_id, b);
}

TEST_F(AliasTest, AliasesMustReferToKeys) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/first", k));
  for (const std::string& target : {std::string("alias/first"), AliasArn("alias/first")}) {
    EXPECT_THAT(kms().CreateAlias("alias/second", target),
                IsError(kValidation, "Aliases must refer to keys. Not aliases"));
    EXPECT_THAT(kms().UpdateAlias("alias/first", target),
                IsError(kValidation, "Aliases must refer to keys. Not aliases"));
  }
  EXPECT_THAT(kms().CreateAlias("alias/second", "deadbeef-0000-4000-8000-00000000cafe"),
              IsError(kNotFound,
                      "Key '" + Arn("deadbeef-0000-4000-8000-00000000cafe") + "' does not exist"));
  EXPECT_THAT(AliasNames(), ElementsAre("alias/first"));
}

TEST_F(AliasTest, FiftyAliasesPerKey) {
  std::string k = NewKey(), other = NewKey();
  ASSERT_NO_FATAL_FAILURE(CreateAliases(k, "k", 50));
  const std::string message =
      "Aliases per key quota for this account in this region is 50, current usage is 50.";
  EXPECT_THAT(kms().CreateAlias("alias/one-too-many", k),
              IsError("LimitExceededException", message));
  EXPECT_THAT(kms().CreateAlias("alias/one-too-many", Arn(k)),
              IsError("LimitExceededException", message));
  // The limit is per key, and moving an alias onto a full key counts too.
  ASSERT_OK(kms().CreateAlias("alias/one-too-many", other));
  EXPECT_THAT(kms().UpdateAlias("alias/one-too-many", k),
              IsError("LimitExceededException", message));
  EXPECT_EQ(kms().DescribeKey("alias/one-too-many")->key_id, other);
  // An alias already on the full key may be "moved" to it again.
  EXPECT_OK(kms().UpdateAlias("alias/k-000", k));
  // Room again after a delete.
  ASSERT_OK(kms().DeleteAlias("alias/k-049"));
  EXPECT_OK(kms().UpdateAlias("alias/one-too-many", k));
  EXPECT_EQ(AliasNames(k).size(), 50u);
  EXPECT_THAT(AliasNames(other), IsEmpty());
}

TEST_F(AliasTest, AliasLimitComesFromTheOptions) {
  KmsOptions options;
  options.max_aliases_per_key = 2;
  ASSERT_OK_AND_ASSIGN(auto small, KeyService::Create(options, *store_, *vault_, clock_, random_));
  std::string k = NewKey();
  ASSERT_OK(small->CreateAlias("alias/a", k));
  ASSERT_OK(small->CreateAlias("alias/b", k));
  EXPECT_THAT(small->CreateAlias("alias/c", k),
              IsError("LimitExceededException",
                      "Aliases per key quota for this account in this region is 2, current usage "
                      "is 2."));
}

// ---- UpdateAlias ---------------------------------------------------------------------

TEST_F(AliasTest, UpdateAliasMovesIt) {
  std::string a = NewKey(), b = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/app", a));
  const TimePoint created = clock_.Now();
  clock_.Advance(std::chrono::hours(5));
  ASSERT_OK(kms().UpdateAlias("alias/app", Arn(b)));
  EXPECT_EQ(kms().DescribeKey("alias/app")->key_id, b);
  EXPECT_THAT(AliasNames(a), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListAliases(b, std::nullopt, std::nullopt));
  ASSERT_EQ(listed.aliases.size(), 1u);
  EXPECT_EQ(listed.aliases[0].target_key_id, b);
  EXPECT_EQ(listed.aliases[0].creation_date, created);
  EXPECT_EQ(listed.aliases[0].last_updated_date, created + std::chrono::hours(5));
  // Blobs encrypted through the alias before the move still decrypt (the blob names the key).
  ASSERT_OK(kms().UpdateAlias("alias/app", a));
  Bytes blob = EncryptBlob("alias/app", "before the move");
  ASSERT_OK(kms().UpdateAlias("alias/app", b));
  EXPECT_EQ(DecryptText(blob).value(), "before the move");
}

TEST_F(AliasTest, UpdateAliasErrors) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/app", k));
  EXPECT_THAT(kms().UpdateAlias("alias/missing", k),
              IsError(kNotFound, "Alias '" + AliasArn("alias/missing") + "' is not found."));
  EXPECT_THAT(kms().UpdateAlias("alias/app", "deadbeef-0000-4000-8000-00000000cafe"),
              IsError(kNotFound,
                      "Key '" + Arn("deadbeef-0000-4000-8000-00000000cafe") + "' does not exist"));
  EXPECT_THAT(kms().UpdateAlias("app", k), IsError(kValidation, kPrefixMessage));
  EXPECT_THAT(kms().UpdateAlias("alias/a b", k),
              IsError(kValidation, AliasPatternMessage("alias/a b")));
  EXPECT_THAT(kms().UpdateAlias("alias/aws/managed", k),
              IsError(kNotFound, "Alias '" + AliasArn("alias/aws/managed") + "' is not found."));
  EXPECT_EQ(kms().DescribeKey("alias/app")->key_id, k);
}

// ---- DeleteAlias ---------------------------------------------------------------------

TEST_F(AliasTest, DeleteAlias) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/app", k));
  ASSERT_OK(kms().CreateAlias("alias/keep", k));
  ASSERT_OK(kms().DeleteAlias("alias/app"));
  EXPECT_THAT(kms().DescribeKey("alias/app"),
              IsError(kNotFound, "Alias '" + AliasArn("alias/app") + "' is not found."));
  EXPECT_THAT(kms().DeleteAlias("alias/app"),
              IsError(kNotFound, "Alias '" + AliasArn("alias/app") + "' is not found."));
  EXPECT_THAT(AliasNames(), ElementsAre("alias/keep"));
  EXPECT_EQ(StateOf(k), KeyState::kEnabled);  // the key is untouched
  // The name can be used again.
  ASSERT_OK(kms().CreateAlias("alias/app", k));
  EXPECT_THAT(AliasNames(), ElementsAre("alias/app", "alias/keep"));
}

TEST_F(AliasTest, DeleteAliasValidatesTheName) {
  EXPECT_THAT(kms().DeleteAlias("app"), IsError(kValidation, kPrefixMessage));
  EXPECT_THAT(kms().DeleteAlias(""),
              IsError(kValidation, ValidationMessage("aliasName", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(kms().DeleteAlias("alias/a?"), IsError(kValidation, AliasPatternMessage("alias/a?")));
}

// ---- ListAliases -----------------------------------------------------------------------

TEST_F(AliasTest, ListAliasesIsSortedAndFiltersByKey) {
  std::string a = NewKey(), b = NewKey(), c = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/zeta", a));
  ASSERT_OK(kms().CreateAlias("alias/Beta", b));
  ASSERT_OK(kms().CreateAlias("alias/alpha", a));
  ASSERT_OK(kms().CreateAlias("alias/gamma", b));
  EXPECT_THAT(AliasNames(), ElementsAre("alias/Beta", "alias/alpha", "alias/gamma", "alias/zeta"));
  EXPECT_THAT(AliasNames(a), ElementsAre("alias/alpha", "alias/zeta"));
  EXPECT_THAT(AliasNames(Arn(b)), ElementsAre("alias/Beta", "alias/gamma"));
  EXPECT_THAT(AliasNames(c), IsEmpty());
}

TEST_F(AliasTest, ListAliasesErrors) {
  std::string k = NewKey();
  ASSERT_OK(kms().CreateAlias("alias/a", k));
  EXPECT_THAT(kms().ListAliases("alias/a", std::nullopt, std::nullopt),
              IsError(kNotFound, "Invalid keyId 'alias/a'"));
  EXPECT_THAT(kms().ListAliases("deadbeef-0000-4000-8000-00000000cafe", std::nullopt, std::nullopt),
              IsError(kNotFound,
                      "Key '" + Arn("deadbeef-0000-4000-8000-00000000cafe") + "' does not exist"));
  EXPECT_THAT(kms().ListAliases(std::nullopt, 0, std::nullopt),
              IsError(kValidation, ValidationMessage("limit", "0",
                                                     "Member must have value greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(kms().ListAliases(std::nullopt, 1001, std::nullopt),
              IsError(kValidation, ValidationMessage("limit", "1001",
                                                     "Member must have value less than or equal "
                                                     "to 1000")));
  EXPECT_THAT(kms().ListAliases(std::nullopt, 10, "not-an-alias"),
              IsError("InvalidMarkerException", "Invalid marker"));
  EXPECT_THAT(kms().ListAliases(std::nullopt, 10, ""),
              IsError(kValidation, ValidationMessage("marker", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
}

TEST_F(AliasTest, ListAliasesPages) {
  std::string a = NewKey(), b = NewKey();
  // Interleaved: a-0 b-0 a-1 b-1 … by name.
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK(kms().CreateAlias("alias/n" + std::to_string(i) + "-a", a));
    ASSERT_OK(kms().CreateAlias("alias/n" + std::to_string(i) + "-b", b));
  }
  // All, three at a time.
  std::vector<std::string> seen;
  std::vector<size_t> sizes;
  std::optional<std::string> marker;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(auto page, kms().ListAliases(std::nullopt, 3, marker));
    sizes.push_back(page.aliases.size());
    for (const auto& e : page.aliases) seen.push_back(e.alias_name);
    EXPECT_EQ(page.truncated, page.next_marker.has_value());
    if (!page.truncated) break;
    EXPECT_EQ(*page.next_marker, page.aliases.back().alias_name);
    marker = page.next_marker;
  }
  EXPECT_THAT(sizes, ElementsAre(3u, 3u, 3u, 3u, 2u));
  EXPECT_EQ(seen, AliasNames());
  EXPECT_EQ(seen.size(), 14u);

  // Only b's, two at a time.
  seen.clear();
  sizes.clear();
  marker.reset();
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(auto page, kms().ListAliases(b, 2, marker));
    sizes.push_back(page.aliases.size());
    for (const auto& e : page.aliases) {
      EXPECT_EQ(e.target_key_id, b);
      seen.push_back(e.alias_name);
    }
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  EXPECT_THAT(sizes, ElementsAre(2u, 2u, 2u, 1u));
  EXPECT_THAT(seen, ElementsAre("alias/n0-b", "alias/n1-b", "alias/n2-b", "alias/n3-b",
                                "alias/n4-b", "alias/n5-b", "alias/n6-b"));

  // A page that ends exactly at the last alias is not truncated.
  ASSERT_OK_AND_ASSIGN(auto exact, kms().ListAliases(std::nullopt, 14, std::nullopt));
  EXPECT_EQ(exact.aliases.size(), 14u);
  EXPECT_FALSE(exact.truncated);
  EXPECT_FALSE(exact.next_marker.has_value());

  // A marker that is not an alias lists from where it would sort.
  ASSERT_OK_AND_ASSIGN(auto from, kms().ListAliases(std::nullopt, std::nullopt, "alias/n5"));
  ASSERT_EQ(from.aliases.size(), 4u);
  EXPECT_EQ(from.aliases[0].alias_name, "alias/n5-a");
}

TEST_F(AliasTest, ListAliasesAcrossManyAliases) {
  // More aliases than one scan of the store returns; the filtered key's are last.
  std::vector<std::string> keys;
  for (int i = 0; i < 6; ++i) keys.push_back(NewKey());
  for (int i = 0; i < 6; ++i) {
    ASSERT_NO_FATAL_FAILURE(CreateAliases(keys[i], "k" + std::to_string(i), 50));
  }
  ASSERT_OK_AND_ASSIGN(auto last, kms().ListAliases(keys[5], 100, std::nullopt));
  EXPECT_EQ(last.aliases.size(), 50u);
  EXPECT_FALSE(last.truncated);
  EXPECT_EQ(last.aliases.front().alias_name, "alias/k5-000");
  EXPECT_EQ(last.aliases.back().alias_name, "alias/k5-049");

  // Limit above 100 gives 100.
  ASSERT_OK_AND_ASSIGN(auto capped, kms().ListAliases(std::nullopt, 1000, std::nullopt));
  EXPECT_EQ(capped.aliases.size(), 100u);
  EXPECT_TRUE(capped.truncated);
  // Default page: 50.
  ASSERT_OK_AND_ASSIGN(auto dflt, kms().ListAliases(std::nullopt, std::nullopt, std::nullopt));
  EXPECT_EQ(dflt.aliases.size(), 50u);
  EXPECT_TRUE(dflt.truncated);

  size_t total = 0;
  std::optional<std::string> marker;
  std::string previous;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(auto page, kms().ListAliases(std::nullopt, 100, marker));
    for (const auto& e : page.aliases) {
      EXPECT_LT(previous, e.alias_name);
      previous = e.alias_name;
    }
    total += page.aliases.size();
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  EXPECT_EQ(total, 300u);
}

// ---- tags --------------------------------------------------------------------------------

class TagTest : public KmsTest {
 protected:
  std::vector<Tag> Tags(const std::string& key) {
    auto listed = kms().ListResourceTags(key, std::nullopt, std::nullopt);
    EXPECT_THAT(listed, IsOk());
    return listed.ok() ? listed->tags : std::vector<Tag>{};
  }
  static std::vector<Tag> NumberedTags(int n, int from = 0) {
    std::vector<Tag> tags;
    for (int i = from; i < from + n; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "tag-%03d", i);
      tags.push_back({key, "v" + std::to_string(i)});
    }
    return tags;
  }
};

TEST_F(TagTest, TagListAndOverwrite) {
  std::string k = NewKey();
  EXPECT_THAT(Tags(k), IsEmpty());
  ASSERT_OK(kms().TagResource(k, {{"team", "payments"}, {"Env", "prod"}, {"empty", ""}}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{"Env", "prod"}, Tag{"empty", ""}, Tag{"team", "payments"}));
  ASSERT_OK(kms().TagResource(Arn(k), {{"team", "risk"}}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{"Env", "prod"}, Tag{"empty", ""}, Tag{"team", "risk"}));
  ASSERT_OK(kms().TagResource(k, {}));
  EXPECT_EQ(Tags(k).size(), 3u);
  // Tags are per key.
  std::string other = NewKey();
  EXPECT_THAT(Tags(other), IsEmpty());
}

TEST_F(TagTest, TagLengthLimits) {
  std::string k = NewKey();
  const std::string key128(128, 'k'), value256(256, 'v');
  ASSERT_OK(kms().TagResource(k, {{key128, value256}}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{key128, value256}));

  const std::string key129(129, 'k'), value257(257, 'v');
  EXPECT_THAT(kms().TagResource(k, {{key129, "v"}}),
              IsError(kValidation, ValidationMessage("tags.1.member.tagKey", key129,
                                                     "Member must have length less than or "
                                                     "equal to 128")));
  EXPECT_THAT(kms().TagResource(k, {{"ok", "v"}, {"k", value257}}),
              IsError(kValidation, ValidationMessage("tags.2.member.tagValue", value257,
                                                     "Member must have length less than or "
                                                     "equal to 256")));
  EXPECT_THAT(kms().TagResource(k, {{"", "v"}}),
              IsError(kValidation, ValidationMessage("tags.1.member.tagKey", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(
      kms().TagResource(k, {{"", "v"}, {"k", value257}}),
      IsError(kValidation,
              "2 validation errors detected: Value '' at 'tags.1.member.tagKey' failed to "
              "satisfy constraint: Member must have length greater than or equal to 1; Value '" +
                  value257 +
                  "' at 'tags.2.member.tagValue' failed to satisfy constraint: Member must have "
                  "length less than or equal to 256"));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{key128, value256}));
}

TEST_F(TagTest, LengthsAreInCharactersNotBytes) {
  // Regression: lengths were counted in UTF-8 bytes, refusing valid non-ASCII tags.
  std::string key, value, too_long;
  for (int i = 0; i < 128; ++i) key += "\xc3\xbc";        // ü, 2 bytes
  for (int i = 0; i < 256; ++i) value += "\xe6\x97\xa5";  // 日, 3 bytes
  too_long = value + "\xc3\xa9";
  std::string k = NewKey();
  ASSERT_OK(kms().TagResource(k, {{key, value}}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{key, value}));
  EXPECT_THAT(kms().TagResource(k, {{"k", too_long}}),
              IsError(kValidation, ValidationMessage("tags.1.member.tagValue", too_long,
                                                     "Member must have length less than or "
                                                     "equal to 256")));
  EXPECT_THAT(kms().TagResource(k, {{key + "x", "v"}}),
              IsError(kValidation, ValidationMessage("tags.1.member.tagKey", key + "x",
                                                     "Member must have length less than or "
                                                     "equal to 128")));
}

TEST_F(TagTest, ReservedAndDuplicateKeys) {
  std::string k = NewKey();
  EXPECT_THAT(kms().TagResource(k, {{"ok", "1"}, {"aws:createdBy", "me"}}),
              IsError("TagException", "Tags beginning with aws: are reserved"));
  for (const char* any_case : {"AWS:x", "Aws:x", "aWs:x"}) {  // reserved in any case
    EXPECT_THAT(kms().TagResource(k, {{any_case, "1"}}),
                IsError("TagException", "Tags beginning with aws: are reserved"))
        << any_case;
  }
  EXPECT_THAT(kms().TagResource(k, {{"dup", "1"}, {"other", "2"}, {"dup", "3"}}),
              IsError("TagException", "Duplicate tag keys"));
  EXPECT_THAT(Tags(k), IsEmpty());  // nothing of a refused request is kept
  // "aws" without the colon, or not at the start, is an ordinary key.
  ASSERT_OK(kms().TagResource(k, {{"aws", "1"}, {"x:aws:y", "2"}}));
  EXPECT_EQ(Tags(k).size(), 2u);
}

TEST_F(TagTest, FiftyTagsPerKey) {
  std::string k = NewKey();
  ASSERT_OK(kms().TagResource(k, NumberedTags(49)));
  ASSERT_OK(kms().TagResource(k, NumberedTags(1, 49)));
  EXPECT_EQ(Tags(k).size(), 50u);
  // Overwriting an existing key adds nothing.
  ASSERT_OK(kms().TagResource(k, {{"tag-000", "new"}}));
  EXPECT_THAT(kms().TagResource(k, {{"tag-050", "x"}}), IsError("TagException", "Too many tags"));
  EXPECT_THAT(kms().TagResource(k, {{"tag-001", "changed"}, {"tag-050", "x"}}),
              IsError("TagException", "Too many tags"));
  std::vector<Tag> tags = Tags(k);
  ASSERT_EQ(tags.size(), 50u);
  EXPECT_EQ(tags[0], (Tag{"tag-000", "new"}));
  EXPECT_EQ(tags[1], (Tag{"tag-001", "v1"}));  // the refused request changed nothing

  std::string fresh = NewKey();
  EXPECT_THAT(kms().TagResource(fresh, NumberedTags(51)), IsError("TagException", "Too many tags"));
  CreateKeyRequest req;
  req.tags = NumberedTags(51);
  EXPECT_THAT(kms().CreateKey(req), IsError("TagException", "Too many tags"));
  req.tags = NumberedTags(50);
  ASSERT_OK_AND_ASSIGN(KeyMetadata m, kms().CreateKey(req));
  EXPECT_EQ(Tags(m.key_id).size(), 50u);
}

TEST_F(TagTest, CreateKeyValidatesTags) {
  CreateKeyRequest req;
  req.tags = {{"a", "1"}, {"a", "2"}};
  EXPECT_THAT(kms().CreateKey(req), IsError("TagException", "Duplicate tag keys"));
  req.tags = {{std::string(129, 'k'), "1"}};
  EXPECT_THAT(kms().CreateKey(req),
              IsError(kValidation, ValidationMessage("tags.1.member.tagKey", std::string(129, 'k'),
                                                     "Member must have length less than or "
                                                     "equal to 128")));
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_TRUE(listed.keys.empty());
}

TEST_F(TagTest, Untag) {
  std::string k = NewKey();
  ASSERT_OK(kms().UntagResource(k, {"nothing"}));  // a key without tags
  ASSERT_OK(kms().TagResource(k, {{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  ASSERT_OK(kms().UntagResource(k, {"b", "not-there"}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{"a", "1"}, Tag{"c", "3"}));
  ASSERT_OK(kms().UntagResource(Arn(k), {"a", "c"}));
  EXPECT_THAT(Tags(k), IsEmpty());
  ASSERT_OK(kms().TagResource(k, {{"a", "again"}}));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{"a", "again"}));

  EXPECT_THAT(kms().UntagResource(k, {"a", ""}),
              IsError(kValidation, ValidationMessage("tagKeys.member", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(kms().UntagResource(k, {std::string(129, 'k')}),
              IsError(kValidation, ValidationMessage("tagKeys.member", std::string(129, 'k'),
                                                     "Member must have length less than or "
                                                     "equal to 128")));
  EXPECT_THAT(Tags(k), ElementsAre(Tag{"a", "again"}));
}

TEST_F(TagTest, ListResourceTagsPages) {
  std::string k = NewKey();
  ASSERT_OK(kms().TagResource(k, NumberedTags(50)));
  std::vector<Tag> seen;
  std::vector<size_t> sizes;
  std::optional<std::string> marker;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(auto page, kms().ListResourceTags(k, 20, marker));
    sizes.push_back(page.tags.size());
    seen.insert(seen.end(), page.tags.begin(), page.tags.end());
    EXPECT_EQ(page.truncated, page.next_marker.has_value());
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  EXPECT_THAT(sizes, ElementsAre(20u, 20u, 10u));
  EXPECT_EQ(seen, NumberedTags(50));
  // A marker is this key's: another key's, or text the service did not give, is refused.
  ASSERT_OK_AND_ASSIGN(auto first, kms().ListResourceTags(k, 20, std::nullopt));
  ASSERT_TRUE(first.next_marker.has_value());
  std::string other = NewKey();
  ASSERT_OK(kms().TagResource(other, NumberedTags(30)));
  EXPECT_THAT(kms().ListResourceTags(other, 20, first.next_marker),
              IsError("InvalidMarkerException", "Invalid marker"));
  for (const char* bad : {"tag-019", "zzz", "!!"}) {
    EXPECT_THAT(kms().ListResourceTags(k, 20, std::string(bad)),
                IsError("InvalidMarkerException", "Invalid marker"))
        << bad;
  }

  ASSERT_OK_AND_ASSIGN(auto big, kms().ListResourceTags(k, 1000, std::nullopt));
  EXPECT_EQ(big.tags.size(), 50u);
  EXPECT_FALSE(big.truncated);
  ASSERT_OK_AND_ASSIGN(auto exact, kms().ListResourceTags(k, 50, std::nullopt));
  EXPECT_FALSE(exact.truncated);
  ASSERT_OK_AND_ASSIGN(auto to47, kms().ListResourceTags(k, 48, std::nullopt));
  ASSERT_OK_AND_ASSIGN(auto from, kms().ListResourceTags(k, 5, to47.next_marker));
  EXPECT_THAT(from.tags, ElementsAre(Tag{"tag-048", "v48"}, Tag{"tag-049", "v49"}));
  EXPECT_FALSE(from.truncated);
  // The page goes on after the marker's tag even when that tag is gone since.
  ASSERT_OK(kms().UntagResource(k, {"tag-047"}));
  ASSERT_OK_AND_ASSIGN(auto after_untag, kms().ListResourceTags(k, 5, to47.next_marker));
  EXPECT_THAT(after_untag.tags, ElementsAre(Tag{"tag-048", "v48"}, Tag{"tag-049", "v49"}));

  EXPECT_THAT(kms().ListResourceTags(k, 0, std::nullopt),
              IsError(kValidation, ValidationMessage("limit", "0",
                                                     "Member must have value greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(kms().ListResourceTags(k, 1001, std::nullopt),
              IsError(kValidation, ValidationMessage("limit", "1001",
                                                     "Member must have value less than or "
                                                     "equal to 1000")));
  EXPECT_THAT(kms().ListResourceTags(k, 5, ""),
              IsError(kValidation, ValidationMessage("marker", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
}

// ---- key policies --------------------------------------------------------------------------

constexpr char kDefaultPolicy[] =
    R"({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})";

constexpr char kConsolePolicy[] = R"({
  "Version" : "2012-10-17",
  "Id" : "key-consolepolicy-3",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::111122223333:root" },
    "Action" : "kms:*",
    "Resource" : "*"
  },
	{ "Sid":"Tabs and\ttrailing spaces", "Effect":"Deny", "Principal":"*", "Action":["kms:Decrypt"], "Resource":"*" }   ]
}
)";

// A valid policy of exactly `size` bytes (padded with spaces inside the object).
std::string PolicyOfSize(size_t size) {
  std::string p = kDefaultPolicy;
  p.insert(p.size() - 1, size - p.size(), ' ');
  return p;
}

class PolicyTest : public KmsTest {};

TEST_F(PolicyTest, DefaultPolicy) {
  EXPECT_EQ(kms().DefaultKeyPolicy(), kDefaultPolicy);
  std::string k = NewKey();
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), kDefaultPolicy);
  EXPECT_EQ(kms().GetKeyPolicy(Arn(k), "default").value(), kDefaultPolicy);
  EXPECT_EQ(kms().GetKeyPolicy("arn:aws:kms:us-east-1:111122223333:key/" + k, "default").value(),
            kDefaultPolicy);
}

TEST_F(PolicyTest, PolicyIsStoredVerbatim) {
  CreateKeyRequest req;
  req.policy = kConsolePolicy;
  std::string k = NewKey(req);
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), kConsolePolicy);

  std::string other = NewKey();
  ASSERT_OK(kms().PutKeyPolicy(other, std::nullopt, kConsolePolicy));
  EXPECT_EQ(kms().GetKeyPolicy(other, "default").value(), kConsolePolicy);
  ASSERT_OK(kms().PutKeyPolicy(other, "default", kDefaultPolicy));
  EXPECT_EQ(kms().GetKeyPolicy(other, "default").value(), kDefaultPolicy);
  EXPECT_EQ(kms().GetKeyPolicy(k, "default").value(), kConsolePolicy);  // per key
}

// GetKeyPolicy shows the stored policy through KmsOptions::show_policy (IAM's view of
// its principals), with the time it was saved; authorization reads it as stored.
TEST_F(PolicyTest, GetKeyPolicyShowsThePolicyThroughShowPolicy) {
  std::string k = NewKey();
  const TimePoint created = clock_.Now();
  clock_.Advance(std::chrono::seconds(3));
  std::optional<TimePoint> seen;
  Close();
  options_.show_policy = [&seen](const std::string& text, std::optional<TimePoint> saved) {
    seen = saved;
    return Result<std::string>("shown " + text);
  };
  Open();
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), std::string("shown ") + kDefaultPolicy);
  EXPECT_EQ(seen, created);
  ASSERT_OK(kms().PutKeyPolicy(k, std::nullopt, kConsolePolicy));
  EXPECT_EQ(kms().GetKeyPolicy(k, "default").value(), std::string("shown ") + kConsolePolicy);
  EXPECT_EQ(seen, clock_.Now());
  EXPECT_EQ(kms().KeyPolicyOf(k).value().text, kConsolePolicy);
  options_.show_policy = [](const std::string&, std::optional<TimePoint>) {
    return Result<std::string>(InternalError("IAM is not there"));
  };
  Close();
  Open();
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).status().message(), "IAM is not there");
}

TEST_F(PolicyTest, MalformedPolicies) {
  std::string k = NewKey();
  const std::vector<std::string> cases = {
      "{\"Statement\":",
      "not json at all",
      "[{\"Effect\":\"Allow\"}]",
      "\"a string\"",
      "{\"Version\":\"2012-10-17\"}",
      "{\"Statement\":[]}",
      R"({"Statement":[{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}]})",
  };
  for (const std::string& c : cases) {
    // The message is policy/'s, the same whichever operation checks the document.
    std::string message =
        policy::Policy::Parse(c, policy::PolicyKind::kKeyPolicy).status().message();
    ASSERT_FALSE(message.empty()) << c;
    EXPECT_THAT(kms().PutKeyPolicy(k, std::nullopt, c),
                IsError("MalformedPolicyDocumentException", message))
        << c;
    CreateKeyRequest req;
    req.policy = c;
    EXPECT_THAT(kms().CreateKey(req), IsError("MalformedPolicyDocumentException", message)) << c;
  }
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), kDefaultPolicy);
  ASSERT_OK_AND_ASSIGN(auto listed, kms().ListKeys(std::nullopt, std::nullopt));
  EXPECT_EQ(listed.keys.size(), 1u);
}

TEST_F(PolicyTest, PolicySizeLimit) {
  std::string k = NewKey();
  const std::string at_limit = PolicyOfSize(32768);
  ASSERT_EQ(at_limit.size(), 32768u);
  ASSERT_OK(kms().PutKeyPolicy(k, std::nullopt, at_limit));
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), at_limit);
  CreateKeyRequest req;
  req.policy = at_limit;
  EXPECT_OK(kms().CreateKey(req));

  const std::string over = PolicyOfSize(32769);
  EXPECT_THAT(kms().PutKeyPolicy(k, std::nullopt, over),
              IsError("LimitExceededException", "The key policy is larger than 32768 bytes."));
  req.policy = over;
  EXPECT_THAT(kms().CreateKey(req),
              IsError("LimitExceededException", "The key policy is larger than 32768 bytes."));
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), at_limit);

  // Beyond the model's 131072 characters it is a validation error.
  const std::string huge = PolicyOfSize(131073);
  EXPECT_THAT(kms().PutKeyPolicy(k, std::nullopt, huge),
              IsError(kValidation, ValidationMessage("policy", huge,
                                                     "Member must have length less than or "
                                                     "equal to 131072")));
  EXPECT_THAT(kms().PutKeyPolicy(k, std::nullopt, ""),
              IsError(kValidation, ValidationMessage("policy", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
}

TEST_F(PolicyTest, PolicyNames) {
  std::string k = NewKey();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, kms().ListKeyPolicies(k));
  EXPECT_THAT(names, ElementsAre("default"));
  EXPECT_THAT(kms().ListKeyPolicies(Arn(k)).value(), ElementsAre("default"));

  EXPECT_THAT(kms().GetKeyPolicy(k, "other"), IsError(kNotFound, "No such policy exists: other"));
  EXPECT_THAT(kms().PutKeyPolicy(k, "Default", kConsolePolicy),
              IsError(kNotFound, "No such policy exists: Default"));
  EXPECT_THAT(kms().GetKeyPolicy(k, "bad-name"),
              IsError(kValidation, ValidationMessage("policyName", "bad-name",
                                                     "Member must satisfy regular expression "
                                                     "pattern: [\\w]+")));
  EXPECT_THAT(kms().GetKeyPolicy(k, ""),
              IsError(kValidation, ValidationMessage("policyName", "",
                                                     "Member must have length greater than or "
                                                     "equal to 1")));
  EXPECT_THAT(kms().PutKeyPolicy(k, std::string(129, 'p'), kConsolePolicy),
              IsError(kValidation, ValidationMessage("policyName", std::string(129, 'p'),
                                                     "Member must have length less than or "
                                                     "equal to 128")));
  EXPECT_EQ(kms().GetKeyPolicy(k, std::nullopt).value(), kDefaultPolicy);
}

}  // namespace
}  // namespace coffer::kms
