#pragma once
// `coffer server`: the daemon. Opens the data directory (services.h), listens
// (http_listener.h), runs the scheduler, and stops cleanly on SIGTERM or SIGINT:
// the listener stops accepting, requests in flight finish, the scheduler stops,
// then the state store closes.
#include <cstdio>
#include <memory>

#include "common/status.h"
#include "objstore/object_store.h"
#include "server/config.h"

namespace coffer::server {

// Runs the server until SIGTERM or SIGINT. Prints to `out`, once ready,
//   coffer listening on http://HOST:PORT
// and, on the first start of a data directory only, where the account root's
// access key was written, with the key itself (shown this once). Returns the
// error that stopped the server from starting or running. Backup tasks read and
// write `buckets` (the configured ones and those under DATA_DIR/buckets); null:
// the buckets under DATA_DIR/buckets only.
Status RunServer(const ServerConfig& config, std::shared_ptr<objstore::ObjectStore> buckets,
                 std::FILE* out);

}  // namespace coffer::server
