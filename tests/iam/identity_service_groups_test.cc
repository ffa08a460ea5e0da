// IdentityService: groups (CreateGroup, GetGroup, ListGroups, DeleteGroup, their
// users, and their inline and managed policies), what the request pipeline reads
// of them (a user's IdentityPoliciesOf), their survival across a restart, and AWS
// IAM's validation, limits and error texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "iam/identity_service.h"
#include "iam_fixture.h"
#include "policy/policy.h"

namespace coffer::iam {
namespace {

using ::coffer::iam::testing::AllIn;
using ::coffer::iam::testing::AllowPolicy;
using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kBase32Upper;
using ::coffer::iam::testing::kStartMillis;
using ::coffer::iam::testing::PolicyOfSize;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kDeny[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]})";

class GroupTest : public IamTest {
 protected:
  Group NewGroup(const std::string& name, std::optional<std::string> path = {}) {
    auto group = iam().CreateGroup(CreateGroupRequest{name, std::move(path)});
    if (!group.ok()) {
      ADD_FAILURE() << "CreateGroup " << name << ": " << group.status().ToString();
      return {};
    }
    return *group;
  }

  ManagedPolicy NewPolicy(const std::string& name, const std::string& document) {
    CreatePolicyRequest req;
    req.policy_name = name;
    req.policy_document = document;
    auto policy = iam().CreatePolicy(req);
    if (!policy.ok()) {
      ADD_FAILURE() << "CreatePolicy " << name << ": " << policy.status().ToString();
      return {};
    }
    return *policy;
  }

  // "Allow kms:Decrypt"…: one entry per action of every statement of the
  // identity policies of `who`.
  std::vector<std::string> PoliciesOf(const policy::Principal& who) {
    auto policies = iam().IdentityPoliciesOf(who);
    if (!policies.ok()) {
      ADD_FAILURE() << policies.status().ToString();
      return {};
    }
    std::vector<std::string> out;
    for (const auto& p : **policies) {
      for (const auto& s : p.statements()) {
        for (const auto& a : s.actions) {
          out.push_back(std::string(s.effect == policy::Effect::kDeny ? "Deny " : "Allow ") + a);
        }
      }
    }
    return out;
  }

  static std::vector<std::string> GroupNames(const ListGroupsResult& list) {
    std::vector<std::string> out;
    for (const Group& g : list.groups) out.push_back(g.group_name);
    return out;
  }
  static std::vector<std::string> UserNames(const GetGroupResult& got) {
    std::vector<std::string> out;
    for (const User& u : got.users) out.push_back(u.user_name);
    return out;
  }
};

// ---- the group itself -------------------------------------------------------------------------

TEST_F(GroupTest, CreateGroupReturnsTheGroup) {
  clock_.Advance(std::chrono::seconds(5));
  Group g = NewGroup("DBAdmins", "/eng/");
  EXPECT_EQ(g.group_name, "DBAdmins");
  EXPECT_EQ(g.path, "/eng/");
  EXPECT_EQ(g.arn, "arn:aws:iam::111122223333:group/eng/DBAdmins");
  EXPECT_EQ(g.group_id.size(), 21u);
  EXPECT_EQ(g.group_id.substr(0, 4), "AGPA");
  EXPECT_TRUE(AllIn(g.group_id.substr(4), kBase32Upper));
  EXPECT_EQ(EpochMillis(g.create_date), kStartMillis + 5000);

  // Names compare without case; GetGroup finds it by any case, shown as created.
  ASSERT_OK_AND_ASSIGN(GetGroupResult got, iam().GetGroup("dbadmins", {}));
  EXPECT_EQ(got.group.group_name, "DBAdmins");
  EXPECT_EQ(got.group.group_id, g.group_id);
  EXPECT_EQ(got.group.arn, g.arn);
  EXPECT_THAT(got.users, IsEmpty());
  EXPECT_FALSE(got.is_truncated);
  ASSERT_OK_AND_ASSIGN(std::string arn, iam().ArnOfGroup("DBADMINS"));
  EXPECT_EQ(arn, g.arn);
  // A group that does not exist: the ARN it would have at the root path.
  ASSERT_OK_AND_ASSIGN(arn, iam().ArnOfGroup("ops"));
  EXPECT_EQ(arn, "arn:aws:iam::111122223333:group/ops");
}

TEST_F(GroupTest, ATakenNameIsRefusedWhateverItsCase) {
  NewGroup("DBAdmins");
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().CreateGroup({"dbadmins", "/other/"}),
              IsError("EntityAlreadyExists", "Group with name dbadmins already exists."));
  EXPECT_EQ(StoreSnapshot(), before);
}

TEST_F(GroupTest, BadNamesAndPathsAreRefusedAndChangeNothing) {
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().CreateGroup({"db admins", {}}),
              IsError("ValidationError",
                      "1 validation error detected: Value 'db admins' at 'groupName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]+"));
  EXPECT_THAT(iam().CreateGroup({std::string(129, 'g'), {}}),
              IsError("ValidationError",
                      "1 validation error detected: Value '" + std::string(129, 'g') +
                          "' at 'groupName' failed to satisfy constraint: Member must have "
                          "length less than or equal to 128"));
  EXPECT_THAT(iam().CreateGroup({"ops", "eng"}),
              IsError("ValidationError",
                      "1 validation error detected: Value 'eng' at 'path' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"));
  EXPECT_EQ(StoreSnapshot(), before);
  EXPECT_THAT(iam().GetGroup("ops", {}),
              IsError("NoSuchEntity", "The group with name ops cannot be found."));
  EXPECT_THAT(iam().DeleteGroup("ops"),
              IsError("NoSuchEntity", "The group with name ops cannot be found."));
}

TEST_F(GroupTest, ListGroupsInNameOrderByPathAndPage) {
  NewGroup("ops", "/eng/");
  NewGroup("Auditors");
  NewGroup("dba", "/eng/");
  ASSERT_OK_AND_ASSIGN(ListGroupsResult all, iam().ListGroups({}, {}));
  EXPECT_THAT(GroupNames(all), ElementsAre("Auditors", "dba", "ops"));
  EXPECT_FALSE(all.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListGroupsResult eng, iam().ListGroups("/eng/", {}));
  EXPECT_THAT(GroupNames(eng), ElementsAre("dba", "ops"));

  ASSERT_OK_AND_ASSIGN(ListGroupsResult first, iam().ListGroups({}, Page{{}, 2}));
  EXPECT_THAT(GroupNames(first), ElementsAre("Auditors", "dba"));
  ASSERT_TRUE(first.is_truncated);
  ASSERT_TRUE(first.marker.has_value());
  ASSERT_OK_AND_ASSIGN(ListGroupsResult rest, iam().ListGroups({}, Page{first.marker, 2}));
  EXPECT_THAT(GroupNames(rest), ElementsAre("ops"));
  EXPECT_FALSE(rest.is_truncated);
  EXPECT_THAT(iam().ListGroups({}, Page{std::string("not-a-marker"), {}}),
              IsError("ValidationError", "Invalid Marker."));
}

TEST_F(GroupTest, GroupsPerAccountIsAQuota) {
  options_.max_groups = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewGroup("a");
  NewGroup("b");
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().CreateGroup({"c", {}}),
              IsError("LimitExceeded", "Cannot exceed quota for GroupsPerAccount: 2"));
  EXPECT_EQ(StoreSnapshot(), before);
  ASSERT_OK(iam().DeleteGroup("a"));
  NewGroup("c");
}

TEST_F(GroupTest, UpdateGroupRenamesAndMovesWithItsUsersAndPolicies) {
  policy::Principal bob = NewUser("bob");
  Group g = NewGroup("dba", "/eng/");
  ASSERT_OK(iam().AddUserToGroup("dba", "bob"));
  ASSERT_OK(iam().PutGroupPolicy("dba", "decrypt", AllowPolicy("kms:Decrypt")));
  ManagedPolicy p = NewPolicy("kms-use", AllowPolicy("kms:Encrypt"));
  ASSERT_OK(iam().AttachGroupPolicy("dba", p.arn));
  NewGroup("ops");

  // A name another group has (whatever its case) is refused, and nothing changes.
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().UpdateGroup("dba", std::nullopt, "OPS"),
              IsError("EntityAlreadyExists", "Group with name OPS already exists."));
  EXPECT_THAT(iam().UpdateGroup("dba", std::nullopt, "d b a"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'd b a' at 'newGroupName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]+"));
  EXPECT_THAT(iam().UpdateGroup("dba", "eng", "d b a"),
              IsError("ValidationError",
                      "2 validation errors detected: Value 'eng' at 'newPath' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F); Value 'd b a' at "
                      "'newGroupName' failed to satisfy constraint: Member must satisfy regular "
                      "expression pattern: [\\w+=,.@-]+"));
  EXPECT_THAT(iam().UpdateGroup("nobody", std::nullopt, "x"),
              IsError("NoSuchEntity", "The group with name nobody cannot be found."));
  EXPECT_EQ(StoreSnapshot(), before);

  ASSERT_OK(iam().UpdateGroup("DBA", "/data/", "DBAdmins"));
  EXPECT_THAT(iam().GetGroup("dba", {}),
              IsError("NoSuchEntity", "The group with name dba cannot be found."));
  ASSERT_OK_AND_ASSIGN(GetGroupResult got, iam().GetGroup("dbadmins", {}));
  EXPECT_EQ(got.group.group_name, "DBAdmins");
  EXPECT_EQ(got.group.arn, "arn:aws:iam::111122223333:group/data/DBAdmins");
  EXPECT_EQ(got.group.group_id, g.group_id);
  EXPECT_EQ(got.group.create_date, g.create_date);
  EXPECT_THAT(UserNames(got), ElementsAre("bob"));
  ASSERT_OK_AND_ASSIGN(ListGroupsResult of_bob, iam().ListGroupsForUser("bob", {}));
  EXPECT_THAT(GroupNames(of_bob), ElementsAre("DBAdmins"));
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult names, iam().ListGroupPolicies("DBAdmins", {}));
  EXPECT_THAT(names.policy_names, ElementsAre("decrypt"));
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedGroupPolicies("DBAdmins", {}, {}));
  ASSERT_EQ(attached.attached_policies.size(), 1u);
  ListEntitiesForPolicyRequest lr;
  lr.policy_arn = p.arn;
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult entities, iam().ListEntitiesForPolicy(lr));
  ASSERT_EQ(entities.groups.size(), 1u);
  EXPECT_EQ(entities.groups[0].name, "DBAdmins");
  EXPECT_THAT(PoliciesOf(bob), ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt"));

  // Only the case, or only the path.
  ASSERT_OK(iam().UpdateGroup("dbadmins", std::nullopt, "dbadmins"));
  ASSERT_OK(iam().UpdateGroup("dbadmins", "/", std::nullopt));
  ASSERT_OK_AND_ASSIGN(got, iam().GetGroup("DBADMINS", {}));
  EXPECT_EQ(got.group.arn, "arn:aws:iam::111122223333:group/dbadmins");
  EXPECT_THAT(UserNames(got), ElementsAre("bob"));

  // The old name is free, and starts empty.
  NewGroup("dba");
  ASSERT_OK_AND_ASSIGN(got, iam().GetGroup("dba", {}));
  EXPECT_THAT(got.users, IsEmpty());
  ASSERT_OK_AND_ASSIGN(names, iam().ListGroupPolicies("dba", {}));
  EXPECT_THAT(names.policy_names, IsEmpty());
}

// ---- users of a group -------------------------------------------------------------------------

TEST_F(GroupTest, UsersAreAddedOnceListedAndRemoved) {
  NewGroup("DBAdmins");
  NewGroup("auditors");
  NewUser("bob");
  NewUser("Alice", "/eng/");
  ASSERT_OK(iam().AddUserToGroup("dbadmins", "bob"));
  ASSERT_OK(iam().AddUserToGroup("DBAdmins", "alice"));
  ASSERT_OK(iam().AddUserToGroup("auditors", "alice"));
  // Adding again changes nothing.
  const std::string before = StoreSnapshot();
  ASSERT_OK(iam().AddUserToGroup("dbadmins", "ALICE"));
  EXPECT_EQ(StoreSnapshot(), before);

  ASSERT_OK_AND_ASSIGN(GetGroupResult got, iam().GetGroup("dbadmins", {}));
  EXPECT_THAT(UserNames(got), ElementsAre("Alice", "bob"));
  EXPECT_EQ(got.users[0].arn, "arn:aws:iam::111122223333:user/eng/Alice");
  ASSERT_OK_AND_ASSIGN(GetGroupResult page, iam().GetGroup("dbadmins", Page{{}, 1}));
  EXPECT_THAT(UserNames(page), ElementsAre("Alice"));
  ASSERT_TRUE(page.is_truncated);
  ASSERT_OK_AND_ASSIGN(GetGroupResult next, iam().GetGroup("dbadmins", Page{page.marker, 1}));
  EXPECT_THAT(UserNames(next), ElementsAre("bob"));
  EXPECT_FALSE(next.is_truncated);

  ASSERT_OK_AND_ASSIGN(ListGroupsResult of_alice, iam().ListGroupsForUser("alice", {}));
  EXPECT_THAT(GroupNames(of_alice), ElementsAre("auditors", "DBAdmins"));

  ASSERT_OK(iam().RemoveUserFromGroup("DBADMINS", "Alice"));
  ASSERT_OK_AND_ASSIGN(got, iam().GetGroup("dbadmins", {}));
  EXPECT_THAT(UserNames(got), ElementsAre("bob"));
  ASSERT_OK_AND_ASSIGN(of_alice, iam().ListGroupsForUser("alice", {}));
  EXPECT_THAT(GroupNames(of_alice), ElementsAre("auditors"));
}

TEST_F(GroupTest, MembershipOfWhatDoesNotExistIsRefused) {
  NewGroup("dba");
  NewUser("bob");
  NewUser("carol");
  ASSERT_OK(iam().AddUserToGroup("dba", "bob"));
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().AddUserToGroup("ops", "bob"),
              IsError("NoSuchEntity", "The group with name ops cannot be found."));
  EXPECT_THAT(iam().AddUserToGroup("dba", "dave"),
              IsError("NoSuchEntity", "The user with name dave cannot be found."));
  // Removing a user that is not in the group.
  EXPECT_THAT(iam().RemoveUserFromGroup("dba", "carol"),
              IsError("NoSuchEntity", "The user with name carol cannot be found."));
  EXPECT_THAT(iam().RemoveUserFromGroup("ops", "bob"),
              IsError("NoSuchEntity", "The group with name ops cannot be found."));
  EXPECT_THAT(iam().ListGroupsForUser("dave", {}),
              IsError("NoSuchEntity", "The user with name dave cannot be found."));
  EXPECT_THAT(iam().AddUserToGroup("dba", "b o b"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'b o b' at 'userName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]+"));
  EXPECT_EQ(StoreSnapshot(), before);
}

TEST_F(GroupTest, GroupsPerUserIsAQuota) {
  options_.max_groups_per_user = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewUser("bob");
  for (const char* g : {"a", "b", "c"}) NewGroup(g);
  ASSERT_OK(iam().AddUserToGroup("a", "bob"));
  ASSERT_OK(iam().AddUserToGroup("b", "bob"));
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().AddUserToGroup("c", "bob"),
              IsError("LimitExceeded", "Cannot exceed quota for GroupsPerUser: 2"));
  EXPECT_EQ(StoreSnapshot(), before);
  ASSERT_OK(iam().AddUserToGroup("a", "bob"));  // a member already: no new membership
}

TEST_F(GroupTest, DeleteConflicts) {
  NewGroup("dba");
  NewUser("bob");
  ASSERT_OK(iam().AddUserToGroup("dba", "bob"));
  EXPECT_THAT(
      iam().DeleteGroup("dba"),
      IsError("DeleteConflict", "Cannot delete entity, must remove users from group first."));
  EXPECT_THAT(
      iam().DeleteUser("bob"),
      IsError("DeleteConflict", "Cannot delete entity, must remove users from group first."));
  ASSERT_OK(iam().RemoveUserFromGroup("dba", "bob"));

  ASSERT_OK(iam().PutGroupPolicy("dba", "decrypt", AllowPolicy("kms:Decrypt")));
  EXPECT_THAT(iam().DeleteGroup("dba"),
              IsError("DeleteConflict", "Cannot delete entity, must delete policies first."));
  ASSERT_OK(iam().DeleteGroupPolicy("dba", "decrypt"));

  ManagedPolicy p = NewPolicy("kms-use", AllowPolicy("kms:Encrypt"));
  ASSERT_OK(iam().AttachGroupPolicy("dba", p.arn));
  EXPECT_THAT(iam().DeleteGroup("dba"),
              IsError("DeleteConflict", "Cannot delete entity, must detach all policies first."));
  EXPECT_THAT(iam().DeletePolicy(p.arn),
              IsError("DeleteConflict", "Cannot delete a policy attached to entities."));
  ASSERT_OK(iam().DetachGroupPolicy("dba", p.arn));

  ASSERT_OK(iam().DeleteGroup("dba"));
  ASSERT_OK(iam().DeleteUser("bob"));
  ASSERT_OK(iam().DeletePolicy(p.arn));
  // A group of the same name later starts with no users and no policies.
  NewGroup("dba");
  ASSERT_OK_AND_ASSIGN(GetGroupResult got, iam().GetGroup("dba", {}));
  EXPECT_THAT(got.users, IsEmpty());
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult names, iam().ListGroupPolicies("dba", {}));
  EXPECT_THAT(names.policy_names, IsEmpty());
}

// ---- policies of a group, as its users get them ----------------------------------------------

TEST_F(GroupTest, AUserGetsThePoliciesOfItsGroups) {
  policy::Principal bob = NewUser("bob");
  policy::Principal carol = NewUser("carol");
  NewGroup("dba");
  NewGroup("auditors");
  ASSERT_OK(iam().PutUserPolicy("bob", "own", AllowPolicy("kms:ListKeys")));
  ASSERT_OK(iam().PutGroupPolicy("dba", "decrypt", AllowPolicy("kms:Decrypt")));
  ManagedPolicy p = NewPolicy("kms-use", AllowPolicy("kms:Encrypt"));
  ASSERT_OK(iam().AttachGroupPolicy("dba", p.arn));
  ASSERT_OK(iam().PutGroupPolicy("auditors", "no-decrypt", kDeny));

  // Not yet a member: only its own.
  EXPECT_THAT(PoliciesOf(bob), ElementsAre("Allow kms:ListKeys"));
  ASSERT_OK(iam().AddUserToGroup("dba", "bob"));
  // Its own, then each group's inline and attached ones, groups in name order.
  EXPECT_THAT(PoliciesOf(bob),
              ElementsAre("Allow kms:ListKeys", "Allow kms:Decrypt", "Allow kms:Encrypt"));
  ASSERT_OK(iam().AddUserToGroup("auditors", "bob"));
  EXPECT_THAT(PoliciesOf(bob), ElementsAre("Allow kms:ListKeys", "Deny kms:Decrypt",
                                           "Allow kms:Decrypt", "Allow kms:Encrypt"));
  EXPECT_THAT(PoliciesOf(carol), IsEmpty());

  // A change to a group's policies reaches its users at once.
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:GenerateDataKey"), true).status());
  ASSERT_OK(iam().DeleteGroupPolicy("auditors", "no-decrypt"));
  EXPECT_THAT(PoliciesOf(bob),
              ElementsAre("Allow kms:ListKeys", "Allow kms:Decrypt", "Allow kms:GenerateDataKey"));
  ASSERT_OK(iam().RemoveUserFromGroup("dba", "bob"));
  EXPECT_THAT(PoliciesOf(bob), ElementsAre("Allow kms:ListKeys"));

  // Membership survives a restart.
  ASSERT_OK(iam().AddUserToGroup("dba", "carol"));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_THAT(PoliciesOf(carol), ElementsAre("Allow kms:Decrypt", "Allow kms:GenerateDataKey"));
}

TEST_F(GroupTest, InlinePoliciesOfAGroup) {
  NewGroup("dba");
  ASSERT_OK(iam().PutGroupPolicy("dba", "Decrypt", AllowPolicy("kms:Decrypt")));
  ASSERT_OK_AND_ASSIGN(InlinePolicy got, iam().GetGroupPolicy("DBA", "decrypt"));
  EXPECT_EQ(got.entity_name, "dba");
  EXPECT_EQ(got.policy_name, "Decrypt");
  EXPECT_EQ(got.policy_document, AllowPolicy("kms:Decrypt"));
  EXPECT_THAT(iam().GetGroupPolicy("dba", "encrypt"),
              IsError("NoSuchEntity", "The group policy with name encrypt cannot be found."));
  EXPECT_THAT(iam().PutGroupPolicy("ops", "x", AllowPolicy("kms:Decrypt")),
              IsError("NoSuchEntity", "The group with name ops cannot be found."));

  // All inline policies of a group together: at most 5,120 characters without
  // white space.
  const std::string before = StoreSnapshot();
  EXPECT_THAT(iam().PutGroupPolicy("dba", "big", PolicyOfSize(5120)),
              IsError("LimitExceeded", "Maximum policy size of 5120 bytes exceeded for group dba"));
  EXPECT_EQ(StoreSnapshot(), before);
  ASSERT_OK(iam().PutGroupPolicy("dba", "Decrypt", PolicyOfSize(5120)));  // in place of the old
}

TEST_F(GroupTest, ListsOfTheLongestNamesPageWithMarkersIamAccepts) {
  // A group's name and its policies' may be 128 characters each; the marker
  // must still be one a request may carry (1 to 320 characters).
  const std::string group(128, 'g');
  NewGroup(group);
  for (char c : {'a', 'b'}) {
    const std::string name(128, c);
    ASSERT_OK(iam().PutGroupPolicy(group, name, AllowPolicy("kms:Decrypt")));
    ASSERT_OK(iam().AttachGroupPolicy(group, NewPolicy(name, AllowPolicy("kms:Encrypt")).arn));
  }
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult first, iam().ListGroupPolicies(group, Page{{}, 1}));
  ASSERT_TRUE(first.marker.has_value());
  EXPECT_LE(first.marker->size(), 320u);
  ASSERT_OK_AND_ASSIGN(ListPolicyNamesResult second,
                       iam().ListGroupPolicies(group, Page{first.marker, 1}));
  EXPECT_THAT(second.policy_names, ElementsAre(std::string(128, 'b')));
  EXPECT_FALSE(second.is_truncated);

  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedGroupPolicies(group, {}, Page{{}, 1}));
  ASSERT_TRUE(attached.marker.has_value());
  EXPECT_LE(attached.marker->size(), 320u);
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult rest,
                       iam().ListAttachedGroupPolicies(group, {}, Page{attached.marker, 1}));
  ASSERT_EQ(rest.attached_policies.size(), 1u);
  EXPECT_EQ(rest.attached_policies[0].policy_name, std::string(128, 'b'));

  // A marker pages only the list it came from.
  NewGroup("other");
  EXPECT_THAT(iam().ListGroupPolicies("other", Page{first.marker, 1}),
              IsError("ValidationError", "Invalid Marker."));
}

TEST_F(GroupTest, ManagedPoliciesOfAGroupAreListedBothWays) {
  NewGroup("dba", "/eng/");
  NewUser("bob");
  ManagedPolicy p = NewPolicy("kms-use", AllowPolicy("kms:Encrypt"));
  ASSERT_OK(iam().AttachGroupPolicy("dba", p.arn));
  ASSERT_OK(iam().AttachGroupPolicy("dba", p.arn));  // again: no change
  ASSERT_OK(iam().AttachUserPolicy("bob", p.arn));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy shown, iam().GetPolicy(p.arn));
  EXPECT_EQ(shown.attachment_count, 2);

  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedGroupPolicies("dba", {}, {}));
  ASSERT_EQ(attached.attached_policies.size(), 1u);
  EXPECT_EQ(attached.attached_policies[0].policy_arn, p.arn);

  ListEntitiesForPolicyRequest lr;
  lr.policy_arn = p.arn;
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult entities, iam().ListEntitiesForPolicy(lr));
  ASSERT_EQ(entities.groups.size(), 1u);
  EXPECT_EQ(entities.groups[0].name, "dba");
  EXPECT_EQ(entities.groups[0].id.substr(0, 4), "AGPA");
  ASSERT_EQ(entities.users.size(), 1u);
  lr.entity_filter = "Group";
  ASSERT_OK_AND_ASSIGN(entities, iam().ListEntitiesForPolicy(lr));
  EXPECT_EQ(entities.groups.size(), 1u);
  EXPECT_THAT(entities.users, IsEmpty());
  lr.entity_filter = "User";
  ASSERT_OK_AND_ASSIGN(entities, iam().ListEntitiesForPolicy(lr));
  EXPECT_THAT(entities.groups, IsEmpty());
  lr.entity_filter.reset();
  lr.path_prefix = "/eng/";
  ASSERT_OK_AND_ASSIGN(entities, iam().ListEntitiesForPolicy(lr));
  EXPECT_EQ(entities.groups.size(), 1u);
  EXPECT_THAT(entities.users, IsEmpty());

  ASSERT_OK(iam().DetachGroupPolicy("dba", p.arn));
  EXPECT_THAT(iam().DetachGroupPolicy("dba", p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  ASSERT_OK_AND_ASSIGN(shown, iam().GetPolicy(p.arn));
  EXPECT_EQ(shown.attachment_count, 1);
}

}  // namespace
}  // namespace coffer::iam
