#include "cli/stream_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/bucket_stores.h"
#include "cli/client_connection.h"
#include "cli/kms_client.h"
#include "cli/kms_commands.h"
#include "cli/progress.h"
#include "crypto/random.h"
#include "envelope/backup_stream.h"
#include "envelope/kms_keyring.h"
#include "objstore/location.h"

namespace coffer::cli {
namespace {

// Output files hold ciphertext or plaintext: owner only, as every file coffer writes.
constexpr unsigned kOutputFileMode = 0600;

bool IsStdio(const std::string& location) { return location == "-"; }
bool IsObject(const std::string& location) { return location.rfind("s3://", 0) == 0; }

Result<envelope::AlgorithmSuite> ParseSuite(std::string_view text) {
  if (text == "0x0478" || text == "0478" || text == "ALG_AES256_GCM_HKDF_SHA512_COMMIT_KEY") {
    return envelope::AlgorithmSuite::kAes256GcmHkdfSha512Commit;
  }
  if (text == "0x0578" || text == "0578" ||
      text == "ALG_AES256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384") {
    return envelope::AlgorithmSuite::kAes256GcmHkdfSha512CommitEcdsaP384;
  }
  return InvalidArgumentError("Unknown --algorithm-suite '" + std::string(text) +
                              "': expected 0x0478 (the default) or 0x0578");
}

class StreamCommands final : public CommandGroup {
 public:
  StreamCommands(CLI::App& app, ClientEnvironment environment);

  bool Selected() const override { return encrypt_->parsed() || decrypt_->parsed(); }
  int Run() override { return encrypt_->parsed() ? Encrypt() : Decrypt(); }

 private:
  int Encrypt();
  int Decrypt();
  void AddBucketOptions(CLI::App* command);

  // The input: a file or an object (with its size, for the progress bar) or
  // standard input.
  Result<std::unique_ptr<ByteSource>> OpenInput(std::optional<uint64_t>* size);
  // The output: a file or an object, each appearing only when complete, or
  // standard output. `size` is the input's, when known.
  Result<std::unique_ptr<ByteSink>> OpenOutput(std::optional<uint64_t> size);
  // The writer options of `coffer encrypt` as the command line chose them (the
  // keyring and context are set by Encrypt()).
  envelope::BackupWriterOptions WriterOptions() const;
  // The buckets of the configuration, opened on first use.
  Result<objstore::ObjectStore*> Buckets();
  // Connects to KMS and makes the keyring. 0 or the exit status after reporting.
  int MakeKeyring(const std::string& key_id);
  // Reports a failure of the pipeline: a KMS refusal as the aws CLI prints it.
  int ReportFailure(std::string_view what, const Status& status);

  ClientEnvironment env_;
  ClientConnection connection_{env_};
  CLI::App* encrypt_ = nullptr;
  CLI::App* decrypt_ = nullptr;

  std::string key_id_;
  std::vector<std::string> encryption_context_;
  std::string in_;
  std::string out_;
  std::string compression_ = "none";
  std::string suite_ = "0x0478";
  uint32_t frame_length_ = envelope::kDefaultFrameLength;

  std::string config_file_;
  std::string data_dir_;
  std::unique_ptr<objstore::ObjectStore> buckets_;

  std::unique_ptr<KmsClient> kms_client_;
  std::unique_ptr<EndpointKmsDataKeys> data_keys_;
  std::unique_ptr<envelope::KmsKeyring> keyring_;
  // The operation the keyring called last, to name it in an error.
  std::string kms_operation_;
};

StreamCommands::StreamCommands(CLI::App& app, ClientEnvironment environment)
    : env_(std::move(environment)) {
  encrypt_ = app.add_subcommand(
      "encrypt",
      "Encrypt a file or stream of any size under a KMS key, as an AWS Encryption SDK message");
  encrypt_->add_option("--key-id", key_id_, "Key id, key ARN, alias name or alias ARN")->required();
  encrypt_->add_option("--encryption-context", encryption_context_,
                       "K=V[,K=V…] or a JSON object (repeatable): authenticated, not secret");
  encrypt_->add_option("--in", in_, "The file to encrypt, or - for standard input")->required();
  encrypt_
      ->add_option("--out", out_, "Where to write the message: a file, or - for standard output")
      ->required();
  encrypt_
      ->add_option("--compression", compression_,
                   "none (default) or zstd: compress before encrypting")
      ->check(CLI::IsMember({"none", "zstd"}));
  encrypt_->add_option("--algorithm-suite", suite_,
                       "0x0478 (default: AES-256-GCM, HKDF-SHA512, key commitment) or 0x0578 "
                       "(the same, signed with ECDSA P-384)");
  encrypt_
      ->add_option("--frame-length", frame_length_, "Bytes of plaintext per frame (default 1 MiB)")
      ->check(CLI::Range(uint32_t{1}, uint32_t{64} << 20));
  connection_.AddOptions(encrypt_);
  AddBucketOptions(encrypt_);

  decrypt_ = app.add_subcommand(
      "decrypt", "Decrypt an AWS Encryption SDK message (the key comes from the message)");
  decrypt_->add_option("--in", in_, "The message: a file, s3://BUCKET/KEY, or - for standard input")
      ->required();
  decrypt_
      ->add_option("--out", out_, "Where to write the plaintext: a file, or - for standard output")
      ->required();
  decrypt_->add_option("--encryption-context", encryption_context_,
                       "K=V[,K=V…] or a JSON object (repeatable): pairs the message must hold");
  decrypt_->add_option("--key-id", key_id_,
                       "Only use this key ARN (the ESDK's strict mode); default: the key the "
                       "message names");
  connection_.AddOptions(decrypt_);
  AddBucketOptions(decrypt_);
}

void StreamCommands::AddBucketOptions(CLI::App* command) {
  command->add_option("--config", config_file_,
                      "The configuration file (default: COFFER_CONFIG) that names the buckets of "
                      "s3:// locations");
  command->add_option("--data-dir", data_dir_,
                      "The data directory whose buckets/ holds the unconfigured buckets");
}

envelope::BackupWriterOptions StreamCommands::WriterOptions() const {
  envelope::BackupWriterOptions options;
  options.compression =
      compression_ == "zstd" ? envelope::Compression::kZstd : envelope::Compression::kNone;
  if (auto suite = ParseSuite(suite_); suite.ok()) options.suite = *suite;
  options.frame_length = frame_length_;
  return options;
}

Result<objstore::ObjectStore*> StreamCommands::Buckets() {
  if (!buckets_) {
    ASSIGN_OR_RETURN(buckets_, OpenConfiguredBuckets(config_file_, data_dir_, env_.env));
  }
  return buckets_.get();
}

int StreamCommands::ReportFailure(std::string_view what, const Status& status) {
  // A KMS refusal carries the service's error name; print it as the aws CLI does.
  if (!status.error_name().empty() && !kms_operation_.empty() &&
      status.error_name().find("Exception") != std::string::npos) {
    return connection_.ReportCall(kms_operation_, status);
  }
  std::string message = std::string(what);
  if (!status.error_name().empty()) message += " (" + status.error_name() + ")";
  message += ": " + status.message();
  return connection_.Report(message, kExitGeneralError);
}

Result<std::unique_ptr<ByteSource>> StreamCommands::OpenInput(std::optional<uint64_t>* size) {
  if (IsStdio(in_)) return DescriptorSource(STDIN_FILENO, "standard input");
  if (IsObject(in_)) {
    ASSIGN_OR_RETURN(objstore::ObjectLocation location, objstore::ParseObjectLocation(in_));
    ASSIGN_OR_RETURN(objstore::ObjectStore * buckets, Buckets());
    ASSIGN_OR_RETURN(std::unique_ptr<objstore::ObjectReader> reader,
                     buckets->Get(location.bucket, location.key));
    *size = reader->info().size;
    return std::unique_ptr<ByteSource>(std::move(reader));
  }
  struct stat st {};
  if (::stat(in_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    *size = static_cast<uint64_t>(st.st_size);
  }
  return OpenFileSource(in_);
}

Result<std::unique_ptr<ByteSink>> StreamCommands::OpenOutput(std::optional<uint64_t> size) {
  if (IsStdio(out_)) return DescriptorSink(STDOUT_FILENO, "standard output");
  if (IsObject(out_)) {
    ASSIGN_OR_RETURN(objstore::ObjectLocation location, objstore::ParseObjectLocation(out_));
    ASSIGN_OR_RETURN(objstore::ObjectStore * buckets, Buckets());
    objstore::WriteOptions options;
    // Sizes the upload's parts: the stream's largest possible size.
    if (size) options.expected_size = envelope::MaxBackupStreamSize(*size, WriterOptions());
    ASSIGN_OR_RETURN(std::unique_ptr<objstore::ObjectWriter> writer,
                     buckets->OpenWriter(location.bucket, location.key, options));
    return std::unique_ptr<ByteSink>(std::move(writer));
  }
  return CreateOutputFileSink(out_, kOutputFileMode);
}

int StreamCommands::MakeKeyring(const std::string& key_id) {
  AwsClient* client = nullptr;
  if (int rc = connection_.Connect(kKmsService, &client); rc != 0) return rc;
  kms_client_ = std::make_unique<KmsClient>(*client);
  data_keys_ = std::make_unique<EndpointKmsDataKeys>(*kms_client_);
  keyring_ = std::make_unique<envelope::KmsKeyring>(*data_keys_, key_id);
  return 0;
}

int StreamCommands::Encrypt() {
  Result<EncryptionContext> context = ParseEncryptionContext(encryption_context_);
  if (!context.ok()) return connection_.Report(context.status().message(), kExitParamError);
  Result<envelope::AlgorithmSuite> suite = ParseSuite(suite_);
  if (!suite.ok()) return connection_.Report(suite.status().message(), kExitParamError);
  Result<envelope::Compression> compression = envelope::ParseCompression(compression_);
  if (!compression.ok()) {
    return connection_.Report(compression.status().message(), kExitParamError);
  }

  std::optional<uint64_t> size;
  auto input = OpenInput(&size);
  if (!input.ok()) return ReportFailure("Cannot read " + in_, input.status());
  if (int rc = MakeKeyring(key_id_); rc != 0) return rc;
  auto output = OpenOutput(size);
  if (!output.ok()) return ReportFailure("Cannot write " + out_, output.status());

  envelope::BackupWriterOptions options = WriterOptions();
  options.keyring = keyring_.get();
  options.context = *context;
  crypto::OpenSslRandom random;
  kms_operation_ = "GenerateDataKey";
  auto writer = envelope::OpenBackupWriter(std::move(output).value(), random, options);
  if (!writer.ok()) return ReportFailure("Cannot encrypt", writer.status());
  kms_operation_.clear();

  ProgressBar progress(*env_.err, env_.progress, size, "encrypt");
  auto counted = CountingSource(**input, progress);
  auto copied = PumpStream(*counted, **writer);
  Status done = copied.ok() ? (*writer)->Close() : copied.status();
  if (!done.ok()) {
    (*writer)->Abort();
    progress.Finish();
    return ReportFailure("Encryption failed", done);
  }
  progress.Finish();
  return 0;
}

int StreamCommands::Decrypt() {
  Result<EncryptionContext> context = ParseEncryptionContext(encryption_context_);
  if (!context.ok()) return connection_.Report(context.status().message(), kExitParamError);

  std::optional<uint64_t> size;
  auto input = OpenInput(&size);
  if (!input.ok()) return ReportFailure("Cannot read " + in_, input.status());
  if (int rc = MakeKeyring(key_id_); rc != 0) return rc;

  ProgressBar progress(*env_.err, env_.progress, size, "decrypt");
  auto counted = CountingSource(**input, progress);
  // The counting stage reads from the input, which must outlive it: hand the
  // reader a borrowing view and keep both here.
  class Borrowed final : public ByteSource {
   public:
    explicit Borrowed(ByteSource& source) : source_(source) {}
    Result<size_t> Read(std::span<uint8_t> out) override { return source_.Read(out); }

   private:
    ByteSource& source_;
  };

  envelope::BackupReaderOptions options;
  options.keyring = keyring_.get();
  options.expected_context = *context;
  options.require_encrypted = true;
  envelope::BackupStreamInfo info;
  kms_operation_ = "Decrypt";
  auto reader = envelope::OpenBackupReader(std::make_unique<Borrowed>(*counted), options, &info);
  if (!reader.ok()) {
    progress.Finish();
    return ReportFailure("Cannot decrypt " + in_, reader.status());
  }
  kms_operation_.clear();
  auto output = OpenOutput(std::nullopt);
  if (!output.ok()) return ReportFailure("Cannot write " + out_, output.status());
  auto copied = PumpStream(**reader, **output);
  Status done = copied.ok() ? (*output)->Close() : copied.status();
  progress.Finish();
  if (!done.ok()) {
    (*output)->Abort();
    return ReportFailure("Decryption of " + in_ + " failed", done);
  }
  return 0;
}

}  // namespace

std::unique_ptr<CommandGroup> RegisterStreamCommands(CLI::App& app, ClientEnvironment environment) {
  return std::make_unique<StreamCommands>(app, std::move(environment));
}

std::unique_ptr<CommandGroup> RegisterStreamCommands(CLI::App& app) {
  return RegisterStreamCommands(app, ProcessClientEnvironment());
}

}  // namespace coffer::cli
