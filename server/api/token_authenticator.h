// Bearer-token callers (server.auth.mode token): who a Kubernetes
// ServiceAccount token belongs to, asked of the API server with a TokenReview
// (the review itself is a function given in, server/kube/token_review.h in
// the server) on this class's own threads, never on a gRPC reaction. A
// verdict is cached by the token's sha256 until the token expires (at most
// TokenAuthOptions::cache_ttl; refusals 10 s), in a bounded cache; callers
// waiting for the same token share one review; the reviews waiting or in
// flight are bounded. A token that is not a JWT with an unexpired `exp` is
// refused without asking the API server.
#ifndef CODEEXEC_SERVER_API_TOKEN_AUTHENTICATOR_H_
#define CODEEXEC_SERVER_API_TOKEN_AUTHENTICATOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/api/auth_options.h"
#include "server/exec/cancellation.h"

namespace codeexec {

// What a TokenReview said about a token.
struct TokenVerdict {
  bool authenticated = false;
  // "system:serviceaccount:<namespace>:<name>" when authenticated.
  std::string username;
  // The audiences the token is valid for, of those asked.
  std::vector<std::string> audiences;
  // The API server's reason when not authenticated.
  std::string error;
};

// One TokenReview of `token` for `audience`; an error when the API server
// could not be asked (the caller is then UNAVAILABLE, and nothing cached).
// Blocking; returns promptly once `cancel` fires.
using TokenReviewFn = std::function<absl::StatusOr<TokenVerdict>(
    const std::string& token, const std::string& audience,
    const Cancellation& cancel)>;

class TokenAuthenticator {
 public:
  using Done = std::function<void(absl::StatusOr<std::string> identity)>;

  // `review_threads` reviews run at once.
  TokenAuthenticator(TokenAuthOptions options, TokenReviewFn review,
                     int review_threads = 4);
  // Cancels reviews in flight; their callers get UNAVAILABLE.
  ~TokenAuthenticator();

  // `done` gets the token's username, UNAUTHENTICATED (not a live token of
  // the audience), or UNAVAILABLE (the API server could not be asked, or
  // too many reviews are pending). Called before this returns when the
  // verdict is known (cached, or the token's shape refuses it), else on a
  // review thread.
  void Authenticate(const std::string& token, Done done);

  // TokenReviews asked so far (tests, metrics).
  int64_t reviews() const;

 private:
  struct Cached {
    absl::StatusOr<std::string> identity;
    absl::Time expires;
  };
  struct Pending {
    std::string token;
    absl::Time token_expiry;
    std::vector<Done> waiting;
  };

  void ReviewLoop();
  absl::StatusOr<std::string> Review(const Pending& pending);
  void CacheLocked(const std::string& key, absl::StatusOr<std::string> identity,
                   absl::Time expires) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TokenAuthOptions options_;
  const TokenReviewFn review_;
  Cancellation cancel_;
  mutable absl::Mutex mu_;
  std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
  // By token sha256: reviews queued (in queue_) or running.
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t reviews_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

// The `exp` claim of a JWT (its payload is only decoded, not verified: the
// review verifies), or an error saying why `token` is not one.
absl::StatusOr<absl::Time> JwtExpiry(const std::string& token);

}  // namespace codeexec

#endif  // CODEEXEC_SERVER_API_TOKEN_AUTHENTICATOR_H_
