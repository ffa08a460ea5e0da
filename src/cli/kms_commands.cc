#include "cli/kms_commands.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/client_connection.h"
#include "cli/output.h"
#include "common/files.h"
#include "common/stream.h"
#include "common/text.h"
#include "policy/policy.h"

namespace coffer::cli {
namespace {

using Json = nlohmann::ordered_json;

// Parameter files (policies, plaintexts, ciphertexts) are small; KMS takes at
// most 4096 bytes of plaintext and 32 KB of policy.
constexpr size_t kMaxParameterFile = 1 << 20;

constexpr size_t kMaxDescriptionChars = 8192;
constexpr size_t kMaxTagKeyChars = 128;
constexpr size_t kMaxTagValueChars = 256;
constexpr size_t kMaxAliasNameChars = 256;
constexpr size_t kMaxKeyPolicyBytes = 32768;  // kms.md, Limits: a key policy is at most 32 KB

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Characters of a UTF-8 string (its code points), as AWS counts lengths.
size_t Utf8Length(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

void WipeBytes(Bytes& b) {
  if (!b.empty()) ::explicit_bzero(b.data(), b.size());
  b.clear();
}

Result<crypto::SecretBytes> ReadFileSecret(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return PosixError(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError(path + ": not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxParameterFile) {
    ::close(fd);
    return InvalidArgumentError(path + ": larger than " + std::to_string(kMaxParameterFile) +
                                " bytes");
  }
  crypto::SecretBytes buffer(static_cast<size_t>(st.st_size) + 1);
  std::span<uint8_t> bytes = RevealSecretMutable(buffer);
  size_t length = 0;
  while (length < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + length, bytes.size() - length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    if (n == 0) break;
    length += static_cast<size_t>(n);
  }
  ::close(fd);
  if (length == bytes.size()) return InvalidArgumentError(path + ": changed while being read");
  return crypto::SecretBytes(ByteView(bytes.data(), length));
}

// The file --ciphertext-out or --plaintext-out names, opened before the call: a
// path that cannot be written is refused before anything is encrypted or
// decrypted. Readable by the owner only; a device or FIFO is written as it is.
Result<std::unique_ptr<ByteSink>> OpenOutputFile(const std::string& option,
                                                 const std::string& path) {
  Result<std::unique_ptr<ByteSink>> sink = CreateOutputFileSink(path, 0600);
  if (!sink.ok()) {
    return Status(sink.status().code(),
                  "Error parsing parameter '" + option + "': " + sink.status().message());
  }
  return sink;
}

// Writes `data` and closes `sink` (for a file: in place, under its name).
Status WriteAndClose(ByteSink& sink, ByteView data) {
  RETURN_IF_ERROR(sink.Write(data));
  return sink.Close();
}

std::optional<std::string> AccountOfPrincipal(std::string_view principal) {
  if (principal.size() == 12 && IsDigits(principal)) return std::string(principal);
  // arn:partition:service:region:account:resource
  std::vector<std::string_view> fields;
  std::string_view rest = principal;
  for (int i = 0; i < 5; ++i) {
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    fields.push_back(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
  }
  if (fields[0] != "arn" || fields[4].size() != 12 || !IsDigits(fields[4])) return std::nullopt;
  return std::string(fields[4]);
}

std::vector<std::string> Deduplicated(const std::vector<std::string>& list) {
  std::vector<std::string> out;
  for (const std::string& s : list) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

// The review of a create-key plan, apart from the policy.
std::string Summary(const CreateKeyPlan& plan) {
  std::string out;
  if (!plan.alias_name.empty()) out += "Alias: " + plan.alias_name + "\n";
  if (!plan.description.empty()) out += "Description: " + plan.description + "\n";
  if (!plan.tags.empty()) {
    out += "Tags:";
    for (size_t i = 0; i < plan.tags.size(); ++i) {
      out += (i == 0 ? " " : ", ") + plan.tags[i].key + "=" + plan.tags[i].value;
    }
    out += "\n";
  }
  return out;
}

class KmsCommands final : public CommandGroup {
 public:
  KmsCommands(CLI::App& app, ClientEnvironment environment);

  bool Selected() const override { return kms_->parsed(); }
  int Run() override;

 private:
  void AddCommand(CLI::App* command, std::function<int()> run);

  int CreateKey();
  int EditKeyPolicy();
  int ListKeys();
  int ListAliases();
  int DescribeKey();
  int GetKeyPolicy();
  int EnableKey();
  int DisableKey();
  int ScheduleKeyDeletion();
  int CancelKeyDeletion();
  int Encrypt();
  int Decrypt();

  // Asks `question` on stderr unless --yes; true for "y" or "yes".
  bool Confirm(std::string_view question);
  int ConnectKms();
  // One call whose answer is printed as is.
  int CallAndPrint(std::string_view operation, std::string_view body);

  // Prints the answer in the output format; wipes the printed text (it may
  // hold a plaintext).
  int Print(std::string_view operation, std::string_view answer);
  int Report(std::string_view message, int exit_status) {
    return connection_.Report(message, exit_status);
  }
  int ReportCall(std::string_view operation, const Status& status) {
    return connection_.ReportCall(operation, status);
  }

  ClientEnvironment env_;
  CLI::App* kms_ = nullptr;
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;

  ClientConnection connection_{env_};

  // Options of the commands (one command runs per invocation).
  std::string key_id_;
  CreateKeyChoices create_;
  policy::KeyPrincipalsEdit principals_;
  std::string policy_file_;
  bool dry_run_ = false;
  bool yes_ = false;
  std::string policy_name_ = "default";
  std::optional<int> pending_window_in_days_;
  std::string plaintext_;
  std::string plaintext_file_;
  std::string ciphertext_blob_;
  std::string ciphertext_file_;
  std::vector<std::string> encryption_context_;
  std::string ciphertext_out_;
  std::string plaintext_out_;

  std::unique_ptr<KmsClient> kms_client_;
};

KmsCommands::KmsCommands(CLI::App& app, ClientEnvironment environment)
    : env_(std::move(environment)) {
  kms_ = app.add_subcommand(
      "kms", "AWS KMS API of a coffer server: keys, aliases, key policies, encrypt, decrypt");
  kms_->require_subcommand(1);
  connection_.AddOptions(kms_);

  auto* create = kms_->add_subcommand(
      "create-key",
      "Create a key as the console's wizard does: alias, description, tags, key administrators "
      "and users, and the console's key policy for them, shown for review");
  create->add_option("--alias", create_.alias, "Alias name (\"backup\" or \"alias/backup\")");
  create->add_option("--description", create_.description, "Description of the key");
  create->add_option("--tag", create_.tags, "A tag KEY=VALUE (repeatable)");
  auto* admin = create->add_option("--admin", create_.admin_arns,
                                   "ARN of a key administrator (user or role; repeatable)");
  auto* user = create->add_option("--user", create_.user_arns, "ARN of a key user (repeatable)");
  auto* can_delete = create->add_flag(
      "--admins-can-delete,!--no-admins-can-delete", create_.admins_can_delete,
      "Whether key administrators may schedule and cancel the key's deletion (default: yes)");
  auto* account = create->add_option(
      "--account-id", create_.account_id,
      "The key's account, for the policy's root statement (default: the account of the "
      "--admin/--user ARNs, else the caller's)");
  create
      ->add_option("--policy-file", policy_file_,
                   "Use this key policy (JSON file) instead of the console's")
      ->excludes(admin)
      ->excludes(user)
      ->excludes(can_delete)
      ->excludes(account);
  create->add_flag("--dry-run", dry_run_,
                   "Print the key policy and stop: nothing is sent to the server");
  create->add_flag("-y,--yes", yes_, "Do not ask for confirmation");
  AddCommand(create, [this] { return CreateKey(); });

  auto* edit = kms_->add_subcommand(
      "edit-key-policy",
      "Add or remove key administrators and key users, as the console's key page does: the "
      "key policy's console statements are edited, the result shown for review");
  edit->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  edit->add_option("--add-admin", principals_.add_admins,
                   "ARN of a user or role to make a key administrator (repeatable)");
  edit->add_option("--remove-admin", principals_.remove_admins,
                   "ARN of a key administrator to remove (repeatable)");
  edit->add_option("--add-user", principals_.add_users,
                   "ARN of a user or role to make a key user (repeatable)");
  edit->add_option("--remove-user", principals_.remove_users,
                   "ARN of a key user to remove (repeatable)");
  edit->add_flag("--admins-can-delete,!--no-admins-can-delete", principals_.admins_can_delete,
                 "When the policy has no administrators' statement yet: whether the new one lets "
                 "them schedule and cancel the key's deletion (default: yes)");
  edit->add_flag("--dry-run", dry_run_, "Print the edited key policy and stop: nothing is changed");
  edit->add_flag("-y,--yes", yes_, "Do not ask for confirmation");
  AddCommand(edit, [this] { return EditKeyPolicy(); });

  auto* list_keys = kms_->add_subcommand("list-keys", "List the keys (every page)");
  AddCommand(list_keys, [this] { return ListKeys(); });

  auto* list_aliases = kms_->add_subcommand("list-aliases", "List the aliases (every page)");
  list_aliases->add_option("--key-id", key_id_, "Only the aliases of this key");
  AddCommand(list_aliases, [this] { return ListAliases(); });

  auto* describe = kms_->add_subcommand("describe-key", "Show a key's metadata");
  describe->add_option("--key-id", key_id_, "Key id, key ARN, alias name or alias ARN")->required();
  AddCommand(describe, [this] { return DescribeKey(); });

  auto* get_policy = kms_->add_subcommand("get-key-policy", "Show a key's policy");
  get_policy->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  get_policy->add_option("--policy-name", policy_name_, "The policy's name (default: default)");
  AddCommand(get_policy, [this] { return GetKeyPolicy(); });

  auto* enable = kms_->add_subcommand("enable-key", "Enable a key");
  enable->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  AddCommand(enable, [this] { return EnableKey(); });

  auto* disable = kms_->add_subcommand("disable-key", "Disable a key");
  disable->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  AddCommand(disable, [this] { return DisableKey(); });

  auto* schedule =
      kms_->add_subcommand("schedule-key-deletion", "Schedule a key's deletion (7-30 days)");
  schedule->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  schedule->add_option("--pending-window-in-days", pending_window_in_days_,
                       "Days before the key is deleted, 7-30 (default 30)");
  AddCommand(schedule, [this] { return ScheduleKeyDeletion(); });

  auto* cancel = kms_->add_subcommand("cancel-key-deletion",
                                      "Cancel a scheduled deletion (the key becomes Disabled)");
  cancel->add_option("--key-id", key_id_, "Key id or key ARN")->required();
  AddCommand(cancel, [this] { return CancelKeyDeletion(); });

  auto* encrypt = kms_->add_subcommand("encrypt", "Encrypt up to 4096 bytes under a key");
  encrypt->add_option("--key-id", key_id_, "Key id, key ARN, alias name or alias ARN")->required();
  auto* plaintext = encrypt->add_option(
      "--plaintext", plaintext_, "fileb://FILE for a file's bytes, or base64 (as aws CLI v2)");
  encrypt->add_option("--plaintext-file", plaintext_file_, "A file whose bytes to encrypt")
      ->excludes(plaintext);
  encrypt->add_option("--encryption-context", encryption_context_,
                      "K=V[,K=V…] or a JSON object (repeatable)");
  encrypt->add_option("--ciphertext-out", ciphertext_out_,
                      "Write the ciphertext's bytes to this file instead of printing them");
  AddCommand(encrypt, [this] { return Encrypt(); });

  auto* decrypt = kms_->add_subcommand("decrypt", "Decrypt a ciphertext");
  auto* blob = decrypt->add_option("--ciphertext-blob", ciphertext_blob_,
                                   "fileb://FILE for a file's bytes, or base64 (as aws CLI v2)");
  decrypt->add_option("--ciphertext-file", ciphertext_file_, "A file holding the ciphertext")
      ->excludes(blob);
  decrypt->add_option("--encryption-context", encryption_context_,
                      "K=V[,K=V…] or a JSON object (repeatable)");
  decrypt->add_option("--key-id", key_id_, "The key the ciphertext must be under (optional)");
  decrypt->add_option("--plaintext-out", plaintext_out_,
                      "Write the plaintext's bytes to this file (mode 0600), or to stdout with "
                      "'-', instead of printing the answer");
  AddCommand(decrypt, [this] { return Decrypt(); });
}

void KmsCommands::AddCommand(CLI::App* command, std::function<int()> run) {
  commands_.emplace_back(command, std::move(run));
}

int KmsCommands::Run() {
  for (auto& [command, run] : commands_) {
    if (command->parsed()) return run();
  }
  return Report("coffer kms: no command given", kExitParamError);
}

int KmsCommands::ConnectKms() {
  if (kms_client_) return 0;
  AwsClient* client = nullptr;
  if (int rc = connection_.Connect(kKmsService, &client); rc != 0) return rc;
  kms_client_ = std::make_unique<KmsClient>(*client);
  return 0;
}

int KmsCommands::Print(std::string_view operation, std::string_view answer) {
  Result<std::string> text = FormatAnswer(answer, connection_.format());
  if (!text.ok()) {
    return Report("The " + std::string(operation) + " answer is not valid JSON", kExitGeneralError);
  }
  *env_.out << *text;
  env_.out->flush();
  WipeString(*text);
  return 0;
}

int KmsCommands::CallAndPrint(std::string_view operation, std::string_view body) {
  if (int rc = ConnectKms(); rc != 0) return rc;
  Result<std::string> answer = kms_client_->Call(operation, body);
  if (!answer.ok()) return ReportCall(operation, answer.status());
  return Print(operation, *answer);
}

int KmsCommands::CreateKey() {
  CreateKeyChoices choices = create_;
  if (!policy_file_.empty()) {
    Result<crypto::SecretBytes> text = ReadFileSecret(policy_file_);
    if (!text.ok()) {
      return Report("Error parsing parameter '--policy-file': Unable to load paramfile " +
                        policy_file_ + ": " + text.status().message(),
                    kExitParamError);
    }
    choices.policy = ToString(RevealSecret(*text));
  }
  std::string account_id;
  if (!choices.policy) {
    Result<std::optional<std::string>> account = AccountForPolicy(choices);
    if (!account.ok()) return Report(account.status().message(), kExitParamError);
    if (account->has_value()) {
      account_id = **account;
    } else if (dry_run_) {
      return Report(
          "coffer cannot tell which account the key policy is for without asking the server, "
          "and a dry run sends nothing: pass --account-id, or --admin/--user ARNs",
          kExitParamError);
    } else {
      // The console writes the policy for the caller's own account.
      AwsClient* sts = nullptr;
      if (int rc = connection_.Connect("sts", &sts); rc != 0) return rc;
      Result<std::string> caller = GetCallerAccount(*sts);
      if (!caller.ok()) return ReportCall("GetCallerIdentity", caller.status());
      account_id = *caller;
    }
  }
  Result<CreateKeyPlan> plan = PlanCreateKey(choices, account_id);
  if (!plan.ok()) return Report(plan.status().message(), kExitParamError);
  Result<std::string> pretty = PrettyJson(plan->policy);
  if (!pretty.ok()) return Report("The key policy is not valid JSON", kExitParamError);

  if (dry_run_) {
    // The policy alone on stdout, so that it can be saved, edited and given
    // back with --policy-file; the rest of the review on stderr.
    *env_.out << *pretty << "\n";
    env_.out->flush();
    *env_.err << Summary(*plan) << "Dry run: nothing was sent.\n";
    env_.err->flush();
    return 0;
  }
  if (!Confirm("Key policy:\n" + *pretty + "\n" + Summary(*plan) + "Create the key? [y/N] ")) {
    *env_.err << "No key was created.\n";
    env_.err->flush();
    return kExitDeclined;
  }

  if (int rc = ConnectKms(); rc != 0) return rc;
  if (!plan->alias_name.empty()) {
    // An alias in use would fail only after the key exists: asked first. (Any
    // answer but the key is left to CreateAlias, which then says why.)
    Result<std::string> taken = kms_client_->Call("DescribeKey", KeyIdRequest(plan->alias_name));
    if (taken.ok()) {
      Json j = Json::parse(*taken, nullptr, false);
      std::string arn = j.is_object() && j.contains("KeyMetadata") &&
                                j["KeyMetadata"].is_object() &&
                                j["KeyMetadata"].value("Arn", "").size() > 0
                            ? j["KeyMetadata"]["Arn"].get<std::string>()
                            : std::string("another key");
      return Report("The alias " + plan->alias_name + " already names " + arn +
                        ": no key was created. Choose another alias.",
                    kExitServiceError);
    }
  }
  Result<std::string> created = kms_client_->Call("CreateKey", plan->CreateKeyBody());
  if (!created.ok()) return ReportCall("CreateKey", created.status());
  if (plan->alias_name.empty()) return Print("CreateKey", *created);

  Json answer = Json::parse(*created, nullptr, false);
  const Json* metadata = nullptr;
  if (answer.is_object() && answer.contains("KeyMetadata")) metadata = &answer["KeyMetadata"];
  if (metadata == nullptr || !metadata->is_object() || !metadata->contains("KeyId") ||
      !(*metadata)["KeyId"].is_string()) {
    Print("CreateKey", *created);
    return Report("The CreateKey answer names no KeyMetadata.KeyId: the alias was not created",
                  kExitGeneralError);
  }
  std::string key_id = (*metadata)["KeyId"].get<std::string>();
  std::string key_arn = metadata->contains("Arn") && (*metadata)["Arn"].is_string()
                            ? (*metadata)["Arn"].get<std::string>()
                            : key_id;
  Result<std::string> aliased =
      kms_client_->Call("CreateAlias", CreateAliasRequest(plan->alias_name, key_id));
  if (int rc = Print("CreateKey", *created); rc != 0) return rc;
  if (!aliased.ok()) {
    int rc = ReportCall("CreateAlias", aliased.status());
    *env_.err << "The key " << key_arn << " was created without the alias " << plan->alias_name
              << ".\n";
    env_.err->flush();
    return rc;
  }
  return 0;
}

// The review is asked for whether or not stdin is a terminal ("echo n |"
// declines); scripts pass -y. End of input declines.
bool KmsCommands::Confirm(std::string_view question) {
  if (yes_) return true;
  *env_.err << question;
  env_.err->flush();
  std::string line;
  if (!std::getline(*env_.in, line)) line.clear();
  std::string reply(TrimSpace(line));
  std::transform(reply.begin(), reply.end(), reply.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return reply == "y" || reply == "yes";
}

int KmsCommands::EditKeyPolicy() {
  const policy::KeyPrincipalsEdit& edit = principals_;
  if (edit.add_admins.empty() && edit.remove_admins.empty() && edit.add_users.empty() &&
      edit.remove_users.empty()) {
    return Report(
        "coffer kms edit-key-policy: nothing to change; give --add-admin, --remove-admin, "
        "--add-user or --remove-user",
        kExitParamError);
  }
  for (const auto& [flag, arns] :
       {std::pair{"--add-admin", &edit.add_admins}, std::pair{"--add-user", &edit.add_users}}) {
    if (Status s = CheckPrincipalArns(flag, *arns); !s.ok()) {
      return Report(s.message(), kExitParamError);
    }
  }
  if (int rc = ConnectKms(); rc != 0) return rc;
  Result<std::string> answer =
      kms_client_->Call("GetKeyPolicy", GetKeyPolicyRequest(key_id_, policy_name_));
  if (!answer.ok()) return ReportCall("GetKeyPolicy", answer.status());
  Json got = Json::parse(*answer, nullptr, false);
  if (!got.is_object() || !got.contains("Policy") || !got["Policy"].is_string()) {
    return Report("The GetKeyPolicy answer holds no Policy", kExitGeneralError);
  }
  const std::string current = got["Policy"].get<std::string>();
  Result<policy::EditedKeyPolicy> edited = policy::EditConsoleKeyPolicy(current, edit);
  if (!edited.ok()) {
    return Report("The key policy of " + key_id_ + " was not changed: " + edited.status().message(),
                  kExitParamError);
  }
  // The policy as it will be: the edited one, or the current one when the edit
  // changes nothing.
  Result<std::string> pretty = PrettyJson(edited->changed ? edited->policy : current);
  if (!pretty.ok()) return Report("The key policy is not valid JSON", kExitGeneralError);
  if (!edited->changed) {
    if (dry_run_) *env_.out << *pretty << "\n";
    env_.out->flush();
    *env_.err << "The key policy of " << key_id_ << " already says so: nothing to change.\n";
    env_.err->flush();
    return 0;
  }
  if (edited->policy.size() > kMaxKeyPolicyBytes) {
    return Report("The edited key policy would be " + std::to_string(edited->policy.size()) +
                      " bytes; KMS takes at most " + std::to_string(kMaxKeyPolicyBytes) +
                      ": the key policy of " + key_id_ + " was not changed",
                  kExitParamError);
  }
  if (dry_run_) {
    // As create-key: the policy alone on stdout, the rest on stderr.
    *env_.out << *pretty << "\n";
    env_.out->flush();
    *env_.err << "Dry run: nothing was sent.\n";
    env_.err->flush();
    return 0;
  }
  if (!Confirm("Key policy:\n" + *pretty + "\nUpdate the key policy of " + key_id_ + "? [y/N] ")) {
    *env_.err << "The key policy was not changed.\n";
    env_.err->flush();
    return kExitDeclined;
  }
  Result<std::string> put =
      kms_client_->Call("PutKeyPolicy", PutKeyPolicyRequest(key_id_, policy_name_, edited->policy));
  if (!put.ok()) return ReportCall("PutKeyPolicy", put.status());
  *env_.err << "The key policy of " << key_id_ << " was updated.\n";
  env_.err->flush();
  return 0;
}

int KmsCommands::ListKeys() {
  if (int rc = ConnectKms(); rc != 0) return rc;
  Result<std::string> answer = kms_client_->CallPaginated("ListKeys", "{}", "Keys");
  if (!answer.ok()) return ReportCall("ListKeys", answer.status());
  return Print("ListKeys", *answer);
}

int KmsCommands::ListAliases() {
  if (int rc = ConnectKms(); rc != 0) return rc;
  Result<std::string> answer =
      kms_client_->CallPaginated("ListAliases", ListAliasesRequest(key_id_), "Aliases");
  if (!answer.ok()) return ReportCall("ListAliases", answer.status());
  return Print("ListAliases", *answer);
}

int KmsCommands::DescribeKey() { return CallAndPrint("DescribeKey", KeyIdRequest(key_id_)); }

int KmsCommands::GetKeyPolicy() {
  return CallAndPrint("GetKeyPolicy", GetKeyPolicyRequest(key_id_, policy_name_));
}

int KmsCommands::EnableKey() { return CallAndPrint("EnableKey", KeyIdRequest(key_id_)); }

int KmsCommands::DisableKey() { return CallAndPrint("DisableKey", KeyIdRequest(key_id_)); }

int KmsCommands::ScheduleKeyDeletion() {
  return CallAndPrint("ScheduleKeyDeletion",
                      ScheduleKeyDeletionRequest(key_id_, pending_window_in_days_));
}

int KmsCommands::CancelKeyDeletion() {
  return CallAndPrint("CancelKeyDeletion", KeyIdRequest(key_id_));
}

int KmsCommands::Encrypt() {
  if (plaintext_.empty() && plaintext_file_.empty()) {
    return Report("One of --plaintext or --plaintext-file is required", kExitParamError);
  }
  Result<crypto::SecretBytes> plaintext = Status(StatusCode::kInternal, "unset");
  if (!plaintext_file_.empty()) {
    plaintext = ReadFileSecret(plaintext_file_);
    if (!plaintext.ok()) {
      return Report("Error parsing parameter '--plaintext-file': " + plaintext.status().message(),
                    kExitParamError);
    }
  } else {
    plaintext = ReadBlobParameter("--plaintext", plaintext_);
    if (!plaintext.ok()) return Report(plaintext.status().message(), kExitParamError);
  }
  Result<EncryptionContext> context = ParseEncryptionContext(encryption_context_);
  if (!context.ok()) return Report(context.status().message(), kExitParamError);

  std::unique_ptr<ByteSink> out;
  if (!ciphertext_out_.empty()) {
    Result<std::unique_ptr<ByteSink>> sink = OpenOutputFile("--ciphertext-out", ciphertext_out_);
    if (!sink.ok()) return Report(sink.status().message(), kExitParamError);
    out = std::move(sink).value();
  }

  if (int rc = ConnectKms(); rc != 0) return rc;
  crypto::SecretBytes body = EncryptRequest(key_id_, *plaintext, *context);
  Result<std::string> answer = kms_client_->Call("Encrypt", AsChars(RevealSecret(body)));
  if (!answer.ok()) return ReportCall("Encrypt", answer.status());
  if (ciphertext_out_.empty()) return Print("Encrypt", *answer);

  Json j = Json::parse(*answer, nullptr, false);
  if (!j.is_object() || !j.contains("CiphertextBlob") || !j["CiphertextBlob"].is_string()) {
    return Report("The Encrypt answer has no CiphertextBlob", kExitGeneralError);
  }
  Result<Bytes> blob = Base64Decode(j["CiphertextBlob"].get<std::string>());
  if (!blob.ok())
    return Report("The Encrypt answer's CiphertextBlob is not base64", kExitGeneralError);
  if (Status written = WriteAndClose(*out, *blob); !written.ok()) {
    return Report(written.message(), kExitGeneralError);
  }
  j.erase("CiphertextBlob");
  return Print("Encrypt", j.dump());
}

int KmsCommands::Decrypt() {
  if (ciphertext_blob_.empty() && ciphertext_file_.empty()) {
    return Report("One of --ciphertext-blob or --ciphertext-file is required", kExitParamError);
  }
  Result<crypto::SecretBytes> ciphertext = Status(StatusCode::kInternal, "unset");
  if (!ciphertext_file_.empty()) {
    ciphertext = ReadFileSecret(ciphertext_file_);
    if (!ciphertext.ok()) {
      return Report("Error parsing parameter '--ciphertext-file': " + ciphertext.status().message(),
                    kExitParamError);
    }
  } else {
    ciphertext = ReadBlobParameter("--ciphertext-blob", ciphertext_blob_);
    if (!ciphertext.ok()) return Report(ciphertext.status().message(), kExitParamError);
  }
  Result<EncryptionContext> context = ParseEncryptionContext(encryption_context_);
  if (!context.ok()) return Report(context.status().message(), kExitParamError);

  const bool to_stdout = plaintext_out_ == "-";  // as `coffer decrypt --out -`
  std::unique_ptr<ByteSink> out;
  if (!plaintext_out_.empty() && !to_stdout) {
    Result<std::unique_ptr<ByteSink>> sink = OpenOutputFile("--plaintext-out", plaintext_out_);
    if (!sink.ok()) return Report(sink.status().message(), kExitParamError);
    out = std::move(sink).value();
  }

  if (int rc = ConnectKms(); rc != 0) return rc;
  Result<std::string> answer =
      kms_client_->Call("Decrypt", DecryptRequest(RevealSecret(*ciphertext), *context, key_id_));
  if (!answer.ok()) return ReportCall("Decrypt", answer.status());
  if (plaintext_out_.empty()) {
    int rc = Print("Decrypt", *answer);
    WipeString(*answer);
    return rc;
  }

  Json j = Json::parse(*answer, nullptr, false);
  WipeString(*answer);
  if (!j.is_object() || !j.contains("Plaintext") || !j["Plaintext"].is_string()) {
    return Report("The Decrypt answer has no Plaintext", kExitGeneralError);
  }
  std::string& encoded = j["Plaintext"].get_ref<std::string&>();
  Result<Bytes> plaintext = Base64Decode(encoded);
  WipeString(encoded);
  j.erase("Plaintext");
  if (!plaintext.ok())
    return Report("The Decrypt answer's Plaintext is not base64", kExitGeneralError);
  if (to_stdout) {
    // The bytes alone, nothing else on stdout.
    env_.out->write(reinterpret_cast<const char*>(plaintext->data()),
                    static_cast<std::streamsize>(plaintext->size()));
    env_.out->flush();
    WipeBytes(*plaintext);
    return env_.out->good() ? 0 : Report("cannot write the plaintext to stdout", kExitGeneralError);
  }
  Status written = WriteAndClose(*out, *plaintext);
  WipeBytes(*plaintext);
  if (!written.ok()) return Report(written.message(), kExitGeneralError);
  return Print("Decrypt", j.dump());
}

}  // namespace

std::unique_ptr<CommandGroup> RegisterKmsCommands(CLI::App& app, ClientEnvironment environment) {
  return std::make_unique<KmsCommands>(app, std::move(environment));
}

std::unique_ptr<CommandGroup> RegisterKmsCommands(CLI::App& app) {
  return RegisterKmsCommands(app, ProcessClientEnvironment());
}

// As the console, which lists the account's users and roles: each is the ARN of
// an IAM user or role (a path allowed), no "*", no account, no root, no group.
Status CheckPrincipalArns(std::string_view flag, const std::vector<std::string>& arns) {
  for (const std::string& arn : arns) {
    std::optional<std::string> account = AccountOfPrincipal(arn);
    const std::string_view name =
        std::string_view(arn).substr(std::min(arn.size(), arn.find(':', 13) + 1));
    const std::string_view type = name.substr(0, name.find('/') + 1);
    const std::string_view rest = name.substr(type.size());
    const bool user_or_role =
        account && arn.starts_with("arn:aws:iam::") && (type == "user/" || type == "role/") &&
        !rest.empty() && rest.back() != '/' && std::all_of(rest.begin(), rest.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                 std::string_view("_+=,.@-/").find(c) != std::string_view::npos;
        });
    if (!user_or_role) {
      return InvalidArgumentError(std::string(flag) + " '" + arn +
                                  "' is not the ARN of an IAM user or role "
                                  "(arn:aws:iam::ACCOUNT:user/NAME or "
                                  "arn:aws:iam::ACCOUNT:role/NAME)");
    }
  }
  return Status::Ok();
}

Status CheckPrincipalArns(const CreateKeyChoices& choices) {
  RETURN_IF_ERROR(CheckPrincipalArns("--admin", choices.admin_arns));
  return CheckPrincipalArns("--user", choices.user_arns);
}

Result<std::optional<std::string>> AccountForPolicy(const CreateKeyChoices& choices) {
  if (!choices.account_id.empty()) {
    if (choices.account_id.size() != 12 || !IsDigits(choices.account_id)) {
      return InvalidArgumentError("--account-id must be a 12-digit AWS account id, not '" +
                                  choices.account_id + "'");
    }
    return std::optional<std::string>(choices.account_id);
  }
  RETURN_IF_ERROR(CheckPrincipalArns(choices));
  std::set<std::string> accounts;
  for (const auto* list : {&choices.admin_arns, &choices.user_arns}) {
    for (const std::string& arn : *list) {
      if (auto account = AccountOfPrincipal(arn)) accounts.insert(*account);
    }
  }
  if (accounts.size() > 1) {
    std::string names;
    for (const std::string& a : accounts) names += (names.empty() ? "" : ", ") + a;
    return InvalidArgumentError("The --admin and --user ARNs name several accounts (" + names +
                                "): pass --account-id with the account the key belongs to");
  }
  if (accounts.empty()) return std::optional<std::string>();
  return std::optional<std::string>(*accounts.begin());
}

Result<std::string> NormalizeAliasName(std::string_view alias) {
  std::string name =
      alias.starts_with("alias/") ? std::string(alias) : "alias/" + std::string(alias);
  std::string_view rest = std::string_view(name).substr(6);
  bool valid_chars = std::all_of(rest.begin(), rest.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '/' || c == '_' ||
           c == '-';
  });
  // kms.md, Limits: ^alias/[a-zA-Z0-9:/_-]+$, at most 256 characters, alias/aws/ reserved.
  if (rest.empty() || !valid_chars) {
    return InvalidArgumentError("The alias name '" + name +
                                "' is not valid: use letters, digits and :/_- after alias/");
  }
  if (name.size() > kMaxAliasNameChars) {
    return InvalidArgumentError("The alias name is longer than 256 characters");
  }
  if (name.starts_with("alias/aws/")) {
    return InvalidArgumentError("The alias name '" + name +
                                "' is reserved: alias/aws/ names AWS managed keys");
  }
  return name;
}

Result<Tag> ParseTag(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgumentError("--tag expects KEY=VALUE, not '" + std::string(text) + "'");
  }
  Tag tag{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (tag.key.empty()) {
    return InvalidArgumentError("--tag expects KEY=VALUE with a key, not '" + std::string(text) +
                                "'");
  }
  if (StartsWithIgnoringAsciiCase(tag.key, "aws:")) {
    return InvalidArgumentError("The tag key '" + tag.key +
                                "' is reserved: tags beginning with aws: are AWS's");
  }
  if (Utf8Length(tag.key) > kMaxTagKeyChars) {
    return InvalidArgumentError("The tag key '" + tag.key + "' is longer than 128 characters");
  }
  if (Utf8Length(tag.value) > kMaxTagValueChars) {
    return InvalidArgumentError("The value of tag '" + tag.key + "' is longer than 256 characters");
  }
  return tag;
}

Result<CreateKeyPlan> PlanCreateKey(const CreateKeyChoices& choices, std::string_view account_id) {
  CreateKeyPlan plan;
  if (Utf8Length(choices.description) > kMaxDescriptionChars) {
    return InvalidArgumentError("The description is longer than 8192 characters");
  }
  plan.description = choices.description;
  for (const std::string& text : choices.tags) {
    ASSIGN_OR_RETURN(Tag tag, ParseTag(text));
    for (const Tag& other : plan.tags) {
      if (other.key == tag.key) {
        return InvalidArgumentError("The tag key '" + tag.key + "' is given twice");
      }
    }
    plan.tags.push_back(std::move(tag));
  }
  if (choices.alias) {
    ASSIGN_OR_RETURN(plan.alias_name, NormalizeAliasName(*choices.alias));
  }
  if (choices.policy) {
    plan.policy = *choices.policy;
  } else {
    if (account_id.size() != 12 || !IsDigits(account_id)) {
      return InvalidArgumentError("The key policy needs the key's 12-digit account id, not '" +
                                  std::string(account_id) + "'");
    }
    RETURN_IF_ERROR(CheckPrincipalArns(choices));
    plan.policy =
        policy::ConsoleKeyPolicy(account_id, Deduplicated(choices.admin_arns),
                                 Deduplicated(choices.user_arns), choices.admins_can_delete);
  }
  Result<policy::Policy> parsed =
      policy::Policy::Parse(plan.policy, policy::PolicyKind::kKeyPolicy);
  if (!parsed.ok()) {
    return InvalidArgumentError("The key policy is not valid: " + parsed.status().message());
  }
  return plan;
}

Result<EncryptionContext> ParseEncryptionContext(const std::vector<std::string>& values) {
  EncryptionContext context;
  auto add = [&context](const std::string& key, const std::string& value) -> Status {
    if (key.empty()) return InvalidArgumentError("--encryption-context: a key is empty");
    auto [it, inserted] = context.emplace(key, value);
    if (!inserted && it->second != value) {
      return InvalidArgumentError("--encryption-context: the key '" + key +
                                  "' is given two values");
    }
    return Status::Ok();
  };
  for (const std::string& value : values) {
    std::string_view text = TrimSpace(value);
    if (text.starts_with("{")) {
      // The parser keeps a repeated key's last value: a key given twice is refused
      // here, as in the K=V form, rather than bound with one of its values.
      std::set<std::string> keys;
      std::optional<std::string> repeated;
      Json j = Json::parse(
          text,
          [&](int depth, Json::parse_event_t event, Json& parsed) {
            if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string() &&
                !keys.insert(parsed.get<std::string>()).second && !repeated) {
              repeated = parsed.get<std::string>();
            }
            return true;
          },
          false);
      if (!j.is_object()) {
        return InvalidArgumentError("--encryption-context: not a JSON object: " + value);
      }
      if (repeated) {
        return InvalidArgumentError("--encryption-context: the key '" + *repeated +
                                    "' is given twice in " + value);
      }
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_string()) {
          return InvalidArgumentError("--encryption-context: the value of '" + it.key() +
                                      "' is not a string");
        }
        RETURN_IF_ERROR(add(it.key(), it.value().get<std::string>()));
      }
      continue;
    }
    while (!text.empty()) {
      size_t comma = text.find(',');
      std::string_view pair = text.substr(0, comma);
      text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        return InvalidArgumentError(
            "--encryption-context expects K=V[,K=V…] or a JSON object, "
            "not '" +
            value + "'");
      }
      RETURN_IF_ERROR(add(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1))));
    }
  }
  return context;
}

Result<crypto::SecretBytes> ReadBlobParameter(std::string_view option, std::string_view value) {
  std::string prefix = "Error parsing parameter '" + std::string(option) + "': ";
  for (std::string_view scheme : {std::string_view("fileb://"), std::string_view("file://")}) {
    if (!value.starts_with(scheme)) continue;
    std::string path(value.substr(scheme.size()));
    Result<crypto::SecretBytes> content = ReadFileSecret(path);
    if (!content.ok()) {
      return InvalidArgumentError(prefix + "Unable to load paramfile " + std::string(value) + ": " +
                                  content.status().message());
    }
    if (scheme == "fileb://") return content;
    // file://: the file's text is the parameter, base64 in aws CLI v2.
    std::string_view text = TrimSpace(AsChars(RevealSecret(*content)));
    Result<Bytes> decoded = Base64Decode(text);
    if (!decoded.ok()) return InvalidArgumentError(prefix + "Invalid base64 in " + path);
    crypto::SecretBytes secret{ByteView(*decoded)};
    WipeBytes(*decoded);
    return secret;
  }
  Result<Bytes> decoded = Base64Decode(TrimSpace(value));
  if (!decoded.ok()) {
    return InvalidArgumentError(prefix + "Invalid base64 (give raw bytes as fileb://FILE)");
  }
  crypto::SecretBytes secret{ByteView(*decoded)};
  WipeBytes(*decoded);
  return secret;
}

}  // namespace coffer::cli
