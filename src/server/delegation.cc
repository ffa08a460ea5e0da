#include "server/delegation.h"

#include <nlohmann/json.hpp>

#include "api/kms_data_keys_json.h"
#include "api/sts_query.h"

namespace coffer::server {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kRdsService[] = "rds.amazonaws.com";

api::InProcessCaller RdsCaller() {
  return api::InProcessCaller{.principal = policy::Principal::Service(kRdsService),
                              .source = kRdsService};
}

class EndpointRoleSession final : public backup::RoleSession {
 public:
  EndpointRoleSession(api::Endpoint& endpoint, api::InProcessCaller caller)
      : endpoint_(endpoint),
        caller_(std::move(caller)),
        data_keys_([this](std::string_view operation, std::string body) {
          return endpoint_.InvokeKms(caller_, operation, std::move(body));
        }) {}

  const std::string& arn() const override { return caller_.principal.arn; }

  Result<std::string> DescribeKey(const std::string& key_id) override {
    ASSIGN_OR_RETURN(std::string reply,
                     endpoint_.InvokeKms(caller_, "DescribeKey", Json{{"KeyId", key_id}}.dump()));
    Json j = Json::parse(reply, nullptr, false);
    if (!j.is_object() || !j.contains("KeyMetadata") || !j["KeyMetadata"].is_object() ||
        !j["KeyMetadata"].contains("Arn") || !j["KeyMetadata"]["Arn"].is_string()) {
      return InternalError("DescribeKey answered without KeyMetadata.Arn");
    }
    const Json& m = j["KeyMetadata"];
    std::string key_arn = m["Arn"].get<std::string>();
    if (m.value("KeySpec", "") != "SYMMETRIC_DEFAULT" ||
        m.value("KeyUsage", "") != "ENCRYPT_DECRYPT") {
      return Status(
          StatusCode::kInvalidArgument, "InvalidKeyUsageException",
          "The KMS key " + key_arn + " is not a symmetric encryption key: backups need one.");
    }
    return key_arn;
  }

  Result<DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                  const envelope::EncryptionContext& context) override {
    return data_keys_.GenerateDataKey(key_id, bytes, context);
  }
  Result<Plaintext> Decrypt(const std::string& key_id, ByteView ciphertext_blob,
                            const envelope::EncryptionContext& context) override {
    return data_keys_.Decrypt(key_id, ciphertext_blob, context);
  }

  Status AuthorizeS3(std::string_view action, std::string_view resource) override {
    std::string name(action.substr(action.find(':') + 1));
    bool object = resource.find('/') != std::string_view::npos;
    std::string bucket(resource.substr(std::string_view("arn:aws:s3:::").size()));
    std::string key;
    if (object) {
      key = bucket.substr(bucket.find('/') + 1);
      bucket = bucket.substr(0, bucket.find('/'));
    }
    auto prepare = [&]() -> Result<api::Call> {
      api::Call call;
      call.operation = name;
      call.event_source = "s3.amazonaws.com";
      call.read_only = name == "GetObject" || name == "ListBucket";
      Json params{{"bucketName", bucket}};
      if (object) params["key"] = key;
      call.request_parameters = params.dump();
      // As CloudTrail's S3 records: the object, then its bucket with the owner's
      // account (an S3 ARN names none; coffer's buckets are the account's).
      if (object) {
        call.resources.push_back(
            audit::AuditResource::Of(std::string(resource), "AWS::S3::Object"));
      }
      audit::AuditResource bucket_resource =
          audit::AuditResource::Of("arn:aws:s3:::" + bucket, "AWS::S3::Bucket");
      bucket_resource.account_id = caller_.principal.account_id;
      call.resources.push_back(std::move(bucket_resource));
      call.authorizations.push_back(
          {api::PolicyScope::kIdentity, std::string(action), std::string(resource), {}});
      call.run = []() -> Result<api::Reply> { return api::Reply{}; };
      return call;
    };
    return endpoint_.Invoke(caller_, prepare, "s3.amazonaws.com", name).status();
  }

 private:
  api::Endpoint& endpoint_;
  const api::InProcessCaller caller_;
  api::JsonKmsDataKeys data_keys_;
};

}  // namespace

Result<std::unique_ptr<backup::RoleSession>> EndpointDelegation::AssumeRole(
    const std::string& role_arn) {
  std::optional<iam::AssumeRoleResult> assumed;
  policy::Principal rds = policy::Principal::Service(kRdsService);
  auto prepare = [&]() -> Result<api::Call> {
    api::Call call;
    call.operation = "AssumeRole";
    call.event_source = std::string(api::kStsEventSource);
    call.read_only = api::StsOperationIsReadOnly(call.operation);
    call.request_parameters =
        Json{{"roleArn", role_arn}, {"roleSessionName", backup::kRoleSessionName}}.dump();
    call.resources.push_back(audit::AuditResource::Of(role_arn, "AWS::IAM::Role"));
    call.authorizations.push_back({api::PolicyScope::kAssumeRole, "sts:AssumeRole", role_arn, {}});
    call.run = [&]() -> Result<api::Reply> {
      iam::AssumeRoleRequest request;
      request.role_arn = role_arn;
      request.role_session_name = backup::kRoleSessionName;
      ASSIGN_OR_RETURN(assumed, iam_.AssumeRole(rds, request));
      api::Reply reply;
      reply.response_elements = api::AssumeRoleElements(*assumed);
      return reply;
    };
    return call;
  };
  RETURN_IF_ERROR(
      endpoint_.Invoke(RdsCaller(), prepare, "sts.amazonaws.com", "AssumeRole").status());
  std::string role_id = assumed->assumed_role_id.substr(0, assumed->assumed_role_id.find(':'));
  api::InProcessCaller session{
      .principal = policy::Principal::AssumedRole(role_arn, backup::kRoleSessionName, role_id),
      .access_key_id = assumed->access_key_id,
      .source = kRdsService};
  session.principal.session_issued = clock_.Now();
  return std::unique_ptr<backup::RoleSession>(
      std::make_unique<EndpointRoleSession>(endpoint_, std::move(session)));
}

Status EndpointDelegation::RecordTaskEvent(const backup::TaskEvent& event) {
  const backup::Task& t = event.task;
  bool started = event.kind == backup::TaskEvent::Kind::kStarted;
  std::string name = started ? "BackupRestoreTaskStarted" : "BackupRestoreTaskEnded";
  auto prepare = [&]() -> Result<api::Call> {
    api::Call call;
    call.operation = name;
    call.event_source = kRdsService;
    Json params{{"taskId", t.id},
                {"taskType", backup::TaskTypeName(t.type)},
                {"dBInstanceIdentifier", t.instance},
                {"databaseName", t.database},
                {"s3ObjectArn", t.s3_object_arn}};
    if (!t.kms_master_key_arn.empty()) params["kmsMasterKeyArn"] = t.kms_master_key_arn;
    // What the task came to is in the record whatever it was (a failed run
    // records no responseElements): lifecycle, session, task_info.
    params["lifecycle"] = backup::LifecycleName(t.lifecycle);
    if (!event.role_session_arn.empty()) params["roleSessionArn"] = event.role_session_arn;
    if (!started) params["taskInfo"] = t.TaskInfo();
    call.request_parameters = params.dump();
    call.resources.push_back(audit::AuditResource::Of(event.instance_arn, "AWS::RDS::DBInstance"));
    call.run = [&]() -> Result<api::Reply> {
      if (!started && t.lifecycle == backup::Lifecycle::kError) {
        // Recorded as the failed call it ends: errorCode and errorMessage.
        return Status(StatusCode::kFailedPrecondition, "TaskFailed",
                      t.log.empty() ? std::string() : t.log.back().message);
      }
      api::Reply reply;
      reply.response_elements = Json{{"lifecycle", backup::LifecycleName(t.lifecycle)}}.dump();
      return reply;
    };
    return call;
  };
  Result<api::Reply> recorded = endpoint_.Invoke(RdsCaller(), prepare, kRdsService, name);
  if (!recorded.ok() && recorded.status().error_name() != "TaskFailed") return recorded.status();
  return Status::Ok();
}

}  // namespace coffer::server
