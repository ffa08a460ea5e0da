#pragma once
// `coffer kms …`: the KMS commands of the coffer client. Each one is a signed
// call to the server's AWS-compatible endpoint, found and signed as the aws CLI
// would (credentials.h), printing what the aws CLI prints:
//
//   coffer kms create-key [--alias NAME] [--description D] [--tag K=V …]
//       [--admin ARN …] [--user ARN …] [--no-admins-can-delete]
//       [--account-id ID | --policy-file F] [--dry-run] [--yes]
//   coffer kms edit-key-policy --key-id K [--add-admin ARN …] [--remove-admin ARN …]
//       [--add-user ARN …] [--remove-user ARN …] [--no-admins-can-delete] [--dry-run] [--yes]
//   coffer kms list-keys | list-aliases [--key-id K] | describe-key --key-id K
//   coffer kms get-key-policy --key-id K | enable-key | disable-key
//       | schedule-key-deletion --key-id K [--pending-window-in-days N]
//       | cancel-key-deletion --key-id K
//   coffer kms encrypt --key-id K (--plaintext fileb://F|BASE64 | --plaintext-file F)
//       [--encryption-context K=V …] [--ciphertext-out F]
//   coffer kms decrypt (--ciphertext-blob fileb://F|BASE64 | --ciphertext-file F)
//       [--encryption-context K=V …] [--key-id K] [--plaintext-out F]
//   options of every command: --endpoint-url, --profile, --region,
//       --output json|text, --ca-bundle, --no-verify-ssl,
//       --cli-connect-timeout, --cli-read-timeout
//
// create-key is the console's create-key wizard: it writes the console's key
// policy (policy::ConsoleKeyPolicy, kms.md "key-consolepolicy-3") for the key
// administrators and users, shows it for review, and with --dry-run stops
// there without sending anything. On a terminal it asks before creating unless
// --yes. Then CreateKey (Policy, Description, Tags) and CreateAlias.
//
// edit-key-policy is the console key page's "Key administrators" and "Key
// users" panels (Add, Remove): GetKeyPolicy, policy::EditConsoleKeyPolicy,
// the result shown for review (--dry-run stops there), then PutKeyPolicy.
//
// Errors print as the aws CLI v2 prints them, on stderr after a blank line:
// "An error occurred (AccessDeniedException) when calling the CreateKey
// operation: …". Exit statuses are v2's (awscli/constants.py): 0 success,
// 252 a bad parameter, 253 no usable credentials, 254 the service answered
// with an error, 255 anything else (unreachable endpoint, unknown profile, …);
// 1 when the user declines the confirmation.
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/client_environment.h"
#include "cli/command_group.h"
#include "cli/credentials.h"
#include "cli/http_client.h"
#include "cli/kms_client.h"
#include "common/clock.h"
#include "common/status.h"

namespace coffer::cli {

// Adds `kms` and its subcommands to `app`. The returned group must outlive
// app.parse() (the App writes the parsed options into it).
std::unique_ptr<CommandGroup> RegisterKmsCommands(CLI::App& app, ClientEnvironment environment);
std::unique_ptr<CommandGroup> RegisterKmsCommands(CLI::App& app);

// ---------------------------------------------------------------------------
// The create-key wizard, exposed for tests.

// The console's choices.
struct CreateKeyChoices {
  std::optional<std::string> alias;  // "name" or "alias/name"; none: no alias ("" is refused)
  std::string description;
  std::vector<std::string> tags;        // "KEY=VALUE"
  std::vector<std::string> admin_arns;  // key administrators
  std::vector<std::string> user_arns;   // key users
  bool admins_can_delete = true;        // the console's default
  std::string account_id;               // empty: from the ARNs, else the caller's
  std::optional<std::string> policy;    // --policy-file: this policy instead of the console's
};

// What CreateKey and CreateAlias will send.
struct CreateKeyPlan {
  std::string policy;      // compact JSON, as sent
  std::string alias_name;  // "alias/…", or empty
  std::string description;
  std::vector<Tag> tags;

  std::string CreateKeyBody() const { return CreateKeyRequest(policy, description, tags); }
};

// Each of `arns` is the ARN of an IAM user or role, as the console offers them
// (a path allowed; no "*", account, root or group). kInvalidArgument naming
// `flag` ("--user") and the ARN otherwise.
Status CheckPrincipalArns(std::string_view flag, const std::vector<std::string>& arns);

// The account the console policy is written for: choices.account_id, else the
// one account that the admin and user ARNs name; nullopt when neither tells
// (then the caller's account, from sts:GetCallerIdentity). kInvalidArgument for
// a malformed --account-id or ARNs of several accounts.
Result<std::optional<std::string>> AccountForPolicy(const CreateKeyChoices& choices);

// Checks the choices and builds the requests: the console policy for
// `account_id` (or choices.policy as given), which must pass
// policy::Policy::Parse as a key policy. kInvalidArgument for a bad tag
// ("KEY=VALUE", key 1–128, value ≤ 256 characters, no key twice), alias name,
// description (≤ 8192) or policy.
Result<CreateKeyPlan> PlanCreateKey(const CreateKeyChoices& choices, std::string_view account_id);

// "name" or "alias/name" -> "alias/name": ^alias/[a-zA-Z0-9:/_-]+$, ≤ 256
// characters, not under the reserved alias/aws/.
Result<std::string> NormalizeAliasName(std::string_view alias);

// "KEY=VALUE" (split at the first '=').
Result<Tag> ParseTag(std::string_view text);

// --encryption-context values: each "K=V[,K=V…]" or a JSON object of strings.
Result<EncryptionContext> ParseEncryptionContext(const std::vector<std::string>& values);

// A blob parameter as the aws CLI v2 reads it: "fileb://PATH" the file's bytes,
// "file://PATH" the file's text as base64, else the value as base64.
// `option` names the parameter in errors ("--plaintext").
Result<crypto::SecretBytes> ReadBlobParameter(std::string_view option, std::string_view value);

}  // namespace coffer::cli
