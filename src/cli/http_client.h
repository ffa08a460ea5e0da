#pragma once
// The command line's HTTP transport is net/http_client.h; these names keep the
// client code reading as it does.
#include "net/http_client.h"

namespace coffer::cli {

using net::Endpoint;
using net::HttpClient;
using net::HttpClientOptions;
using net::HttpTransport;
using net::kInvalidEndpoint;

}  // namespace coffer::cli
