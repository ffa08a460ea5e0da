#include "state/root_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/bytes.h"
#include "common/files.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"
#include "state/vault_format.h"

namespace coffer::state {
namespace {

namespace fmt = vault_format;

// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close(2) may carry for a written file.
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Writes a new key file without ever exposing a partial or readable one: a
// temp file (O_EXCL, 0600) is written and synced, then renamed into place
// without replacing anything, then the directory is synced.
Status WriteNewKeyFile(const std::string& path, const crypto::SecretBytes& key, Random& random) {
  uint8_t suffix[8];
  random.Fill(suffix);
  const std::string tmp = path + ".tmp-" + HexEncode(suffix);
  int raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (raw < 0) return PosixError("create root key file " + tmp, errno);
  FileDescriptor fd(raw);
  auto fail = [&](std::string what, int err) {
    ::unlink(tmp.c_str());
    return PosixError(std::move(what), err);
  };
  // open() masks the mode with the umask; make it exactly 0600.
  if (::fchmod(fd.get(), 0600) != 0) return fail("chmod root key file " + tmp, errno);
  ByteView bytes = crypto::RevealSecret(key);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write root key file " + tmp, errno);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync root key file " + tmp, errno);
  if (fd.Close() != 0) return fail("close root key file " + tmp, errno);

  // RENAME_NOREPLACE: two processes creating the key at once must not replace
  // each other's key after one of them sealed with it.
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST) {
      ::unlink(tmp.c_str());
      return FailedPreconditionError("root key file " + path +
                                     " appeared while coffer was creating it; start again");
    }
    if (err != EINVAL && err != ENOSYS) return fail("rename root key file to " + path, err);
    // The file system cannot rename without replacing: link(2) also refuses
    // an existing target.
    if (::link(tmp.c_str(), path.c_str()) != 0) return fail("link root key file " + path, errno);
    ::unlink(tmp.c_str());
  }
  return SyncDirectory(ParentDirectory(path));
}

// Parses a decimal number without sign, leading zero or anything around it.
bool ParseDecimal(std::string_view text, uint64_t& value) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string FormatScryptParams(const crypto::ScryptParams& params, ByteView salt) {
  return std::string(fmt::kScryptParamsTag) + "$N=" + std::to_string(params.n) +
         "$r=" + std::to_string(params.r) + "$p=" + std::to_string(params.p) +
         "$salt=" + Base64Encode(salt);
}

// Strict inverse of FormatScryptParams (docs/formats/sealed-values.md).
Status ParseScryptParams(std::string_view text, crypto::ScryptParams& params, Bytes& salt) {
  auto malformed = [&](std::string_view why) {
    return DataLossError("the passphrase parameters stored in this data directory are malformed (" +
                         std::string(why) + "); expected scrypt$N=<n>$r=<r>$p=<p>$salt=<base64>");
  };
  std::vector<std::string_view> parts = Split(text, '$');
  if (parts.size() != 5 || parts[0] != fmt::kScryptParamsTag) return malformed("wrong layout");
  auto field = [&](std::string_view part, std::string_view name, std::string_view& value) {
    if (part.size() <= name.size() || part.substr(0, name.size()) != name ||
        part[name.size()] != '=') {
      return false;
    }
    value = part.substr(name.size() + 1);
    return true;
  };
  std::string_view n_text, r_text, p_text, salt_text;
  if (!field(parts[1], "N", n_text) || !field(parts[2], "r", r_text) ||
      !field(parts[3], "p", p_text) || !field(parts[4], "salt", salt_text)) {
    return malformed("wrong field names");
  }
  uint64_t n = 0, r = 0, p = 0;
  if (!ParseDecimal(n_text, n) || n < 2 || (n & (n - 1)) != 0) {
    return malformed("N is not a power of two");
  }
  if (!ParseDecimal(r_text, r) || r == 0 || r > UINT32_MAX) return malformed("bad r");
  if (!ParseDecimal(p_text, p) || p == 0 || p > UINT32_MAX) return malformed("bad p");
  Result<Bytes> decoded = Base64Decode(salt_text);
  if (!decoded.ok()) return malformed("salt is not base64");
  if (decoded->size() != fmt::kScryptSaltSize) {
    return malformed("salt is not " + std::to_string(fmt::kScryptSaltSize) + " bytes");
  }
  params.n = n;
  params.r = static_cast<uint32_t>(r);
  params.p = static_cast<uint32_t>(p);
  salt = std::move(decoded).value();
  return Status::Ok();
}

Result<std::unique_ptr<crypto::AesGcm>> SealingAead(const crypto::SecretBytes& root_key) {
  if (root_key.size() != fmt::kRootKeySize) {
    return InternalError("root key provider returned " + std::to_string(root_key.size()) +
                         " bytes, not " + std::to_string(fmt::kRootKeySize));
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes seal_key,
                   crypto::Hkdf(crypto::HashAlgorithm::kSha256, root_key, ByteView(),
                                AsBytes(fmt::kSealKeyInfo), crypto::kAesGcmKeySize));
  return crypto::AesGcm::Create(seal_key);
}

Bytes SealedValueAad(std::string_view context) {
  Bytes aad;
  aad.reserve(1 + context.size());
  aad.push_back(fmt::kSealedValueVersion);
  Append(aad, AsBytes(context));
  return aad;
}

// "a key file", "a passphrase": for messages about a kind mismatch.
std::string DescribeKind(std::string_view kind) {
  if (kind == "key-file") return "a key file";
  if (kind == "passphrase") return "a passphrase";
  return "root key kind '" + std::string(kind) + "'";
}

struct RootKeyRecord {
  std::string kind;
  std::string params;
  std::string check;
};

// The root key record, or nullopt for a new store.
Result<std::optional<RootKeyRecord>> ReadRootKeyRecord(StateStore& store) {
  std::optional<std::string> kind, params, check;
  RETURN_IF_ERROR(store.View([&](const ReadTransaction& txn) -> Status {
    ASSIGN_OR_RETURN(kind, txn.Get(fmt::kMetaTable, fmt::kKindKey));
    ASSIGN_OR_RETURN(params, txn.Get(fmt::kMetaTable, fmt::kParamsKey));
    ASSIGN_OR_RETURN(check, txn.Get(fmt::kMetaTable, fmt::kCheckKey));
    return Status::Ok();
  }));
  if (!kind && !params && !check) return std::optional<RootKeyRecord>();
  if (!kind || !params || !check) {
    return DataLossError(
        "the root key record of this data directory is incomplete (meta root_key.kind, "
        "root_key.params and root_key.check must all be present)");
  }
  return std::optional<RootKeyRecord>(RootKeyRecord{*kind, *params, *check});
}

}  // namespace

Result<RootKeyProvider::Unlocked> KeyFileRootKeyProvider::Unlock(
    const std::optional<std::string>& stored_params) {
  if (stored_params && !stored_params->empty()) {
    return DataLossError("the key-file root key record of this data directory has parameters (" +
                         std::to_string(stored_params->size()) + " bytes); it should have none");
  }
  // The file is opened once and every check is made on that open file.
  int raw = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    int err = errno;
    if (err != ENOENT) return PosixError("open root key file " + path_, err);
    if (stored_params) {
      // Never make a new key for an existing store: it would not open it, and
      // an operator would lose the hint that the right file is missing.
      return FailedPreconditionError("root key file " + path_ +
                                     " does not exist, but this data directory is sealed with a "
                                     "key file; restore the key file it was created with");
    }
    crypto::SecretBytes key = crypto::RandomSecret(random_, fmt::kRootKeySize);
    RETURN_IF_ERROR(WriteNewKeyFile(path_, key, random_));
    return Unlocked{std::move(key), ""};
  }
  FileDescriptor fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return PosixError("stat root key file " + path_, errno);
  if (!S_ISREG(st.st_mode)) {
    return FailedPreconditionError("root key file " + path_ + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return FailedPreconditionError(
        "root key file " + path_ + " is " + ((st.st_mode & 044) != 0 ? "readable" : "accessible") +
        " by group or others (mode " + OctalMode(st.st_mode) + "); chmod 600 it");
  }
  if (st.st_size != static_cast<off_t>(fmt::kRootKeySize)) {
    return FailedPreconditionError("root key file " + path_ + " must hold exactly " +
                                   std::to_string(fmt::kRootKeySize) + " bytes, it holds " +
                                   std::to_string(st.st_size));
  }
  crypto::SecretBytes key(fmt::kRootKeySize);
  std::span<uint8_t> out = crypto::RevealSecretMutable(key);
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return PosixError("read root key file " + path_, errno);
    if (n == 0) {
      return FailedPreconditionError("root key file " + path_ + " shrank while being read");
    }
    done += static_cast<size_t>(n);
  }
  return Unlocked{std::move(key), ""};
}

Result<RootKeyProvider::Unlocked> PassphraseRootKeyProvider::Unlock(
    const std::optional<std::string>& stored_params) {
  if (passphrase_.empty()) return InvalidArgumentError("the passphrase is empty");
  crypto::ScryptParams params;
  Bytes salt;
  if (stored_params) {
    RETURN_IF_ERROR(ParseScryptParams(*stored_params, params, salt));
  } else {
    params = params_;
    salt.resize(fmt::kScryptSaltSize);
    random_.Fill(salt);
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes key,
                   crypto::Scrypt(passphrase_, salt, params, fmt::kRootKeySize));
  return Unlocked{std::move(key), FormatScryptParams(params, salt)};
}

Result<std::unique_ptr<Vault>> Vault::Open(StateStore& store, RootKeyProvider& provider,
                                           Random& random) {
  ASSIGN_OR_RETURN(std::optional<RootKeyRecord> record, ReadRootKeyRecord(store));

  if (!record) {
    ASSIGN_OR_RETURN(RootKeyProvider::Unlocked unlocked, provider.Unlock(std::nullopt));
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead, SealingAead(unlocked.root_key));
    std::unique_ptr<Vault> vault(new Vault(std::move(aead), random));
    ASSIGN_OR_RETURN(Bytes check,
                     vault->Seal(fmt::kCheckContext, crypto::SecretBytes(fmt::kCheckPlaintext)));
    const std::string kind = provider.Kind();
    RETURN_IF_ERROR(store.Update([&](Transaction& txn) -> Status {
      ASSIGN_OR_RETURN(std::optional<std::string> existing,
                       txn.Get(fmt::kMetaTable, fmt::kKindKey));
      if (existing) {
        return FailedPreconditionError(
            "another coffer process initialized this data directory at the same time; start "
            "again");
      }
      RETURN_IF_ERROR(txn.Put(fmt::kMetaTable, fmt::kKindKey, kind));
      RETURN_IF_ERROR(txn.Put(fmt::kMetaTable, fmt::kParamsKey, unlocked.params));
      return txn.Put(fmt::kMetaTable, fmt::kCheckKey, AsChars(check));
    }));
    return vault;
  }

  if (record->kind != provider.Kind()) {
    return FailedPreconditionError("this data directory is sealed with " +
                                   DescribeKind(record->kind) + ", not " +
                                   DescribeKind(provider.Kind()));
  }
  ASSIGN_OR_RETURN(RootKeyProvider::Unlocked unlocked, provider.Unlock(record->params));
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead, SealingAead(unlocked.root_key));
  std::unique_ptr<Vault> vault(new Vault(std::move(aead), random));
  Result<crypto::SecretBytes> check = vault->Unseal(fmt::kCheckContext, AsBytes(record->check));
  if (!check.ok() || !(*check == crypto::SecretBytes(fmt::kCheckPlaintext))) {
    return FailedPreconditionError(
        "the root key does not open this data directory (wrong key file or passphrase); nothing "
        "was changed");
  }
  return vault;
}

Result<Bytes> Vault::Seal(std::string_view context, const crypto::SecretBytes& secret) const {
  Bytes sealed(fmt::kSealedValueHeaderSize);
  sealed[0] = fmt::kSealedValueVersion;
  std::span<uint8_t> iv(sealed.data() + fmt::kSealedValueIvOffset, crypto::kAesGcmIvSize);
  random_.Fill(iv);
  ASSIGN_OR_RETURN(Bytes ciphertext_and_tag,
                   aead_->Seal(iv, crypto::RevealSecret(secret), SealedValueAad(context)));
  Append(sealed, ciphertext_and_tag);
  return sealed;
}

Result<crypto::SecretBytes> Vault::Unseal(std::string_view context, ByteView sealed) const {
  const std::string does_not_open =
      "sealed value for " + std::string(context) + " does not open (damaged or moved)";
  if (sealed.size() < fmt::kSealedValueMinSize) {
    return DataLossError(does_not_open + ": " + std::to_string(sealed.size()) +
                         " bytes is too short");
  }
  if (sealed[0] != fmt::kSealedValueVersion) {
    return DataLossError(does_not_open + ": unknown format version " +
                         std::to_string(static_cast<int>(sealed[0])));
  }
  ByteView iv = sealed.subspan(fmt::kSealedValueIvOffset, crypto::kAesGcmIvSize);
  Result<crypto::SecretBytes> secret =
      aead_->Open(iv, sealed.subspan(fmt::kSealedValueHeaderSize), SealedValueAad(context));
  if (!secret.ok()) return DataLossError(does_not_open);
  return secret;
}

}  // namespace coffer::state
