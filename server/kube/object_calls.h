// The two API calls every object of ours goes through: a create that
// recognises its own retried create, and a delete that is done when the
// object is gone. Shared by the executions' objects and the warm pool's.
#ifndef CODEEXEC_SERVER_KUBE_OBJECT_CALLS_H_
#define CODEEXEC_SERVER_KUBE_OBJECT_CALLS_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/exec/cancellation.h"
#include "server/kube/client/rest_client.h"

namespace codeexec::kube {

// The value of `label` on `object` ("" if absent).
std::string LabelOf(const nlohmann::json& object, const char* label);

// POSTs `object` to `collection_path`. A 409 AlreadyExists is success when
// the existing object carries execution-id label `execution_id` (a retried
// create whose first attempt reached the server: names are random).
absl::Status CreateOwnObject(RestClient& client, const std::string& resource,
                             const std::string& collection_path,
                             const nlohmann::json& object,
                             const std::string& execution_id,
                             const Cancellation* cancel);

// DELETEs `object_path` with `propagation` ("Background": a Job's pods go
// too); NotFound is success.
absl::Status DeleteObjectIfExists(RestClient& client,
                                  const std::string& resource,
                                  const std::string& object_path,
                                  const std::string& propagation);

}  // namespace codeexec::kube

#endif  // CODEEXEC_SERVER_KUBE_OBJECT_CALLS_H_
