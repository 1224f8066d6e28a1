#include "server/api/token_authenticator.h"

#include <openssl/sha.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace codeexec {
namespace {

// How long a refusal is remembered: enough to absorb a client retrying a
// bad token in a loop, short enough that a just-fixed RBAC or a clock skew
// heals by itself.
constexpr absl::Duration kRefusalCacheTtl = absl::Seconds(10);

std::string TokenKey(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

absl::Status NotALiveToken(std::string_view why) {
  return absl::UnauthenticatedError(
      absl::StrCat("the bearer token is not a live Kubernetes service account "
                   "token for this service: ",
                   std::string(why)));
}

}  // namespace

absl::StatusOr<absl::Time> JwtExpiry(const std::string& token) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return NotALiveToken("it is not a JWT");
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) {
    return NotALiveToken("its payload is not base64url");
  }
  const nlohmann::json claims = nlohmann::json::parse(payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") ||
      !claims["exp"].is_number()) {
    return NotALiveToken("it has no expiry (exp)");
  }
  return absl::FromUnixSeconds(claims["exp"].get<int64_t>());
}

TokenAuthenticator::TokenAuthenticator(TokenAuthOptions options,
                                       TokenReviewFn review, int review_threads)
    : options_(std::move(options)), review_(std::move(review)) {
  for (int i = 0; i < review_threads; ++i) {
    threads_.emplace_back([this] { ReviewLoop(); });
  }
}

TokenAuthenticator::~TokenAuthenticator() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancel_.Cancel("the server is stopping");
  for (std::thread& thread : threads_) thread.join();
  // Reviews queued but never started.
  std::map<std::string, Pending> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(pending_);
  }
  for (auto& [key, pending] : left) {
    for (Done& done : pending.waiting) {
      done(absl::UnavailableError("the server is stopping"));
    }
  }
}

int64_t TokenAuthenticator::reviews() const {
  absl::MutexLock lock(&mu_);
  return reviews_;
}

void TokenAuthenticator::Authenticate(const std::string& token, Done done) {
  absl::StatusOr<absl::Time> expiry = JwtExpiry(token);
  const absl::Time now = absl::Now();
  if (expiry.ok() && *expiry <= now) {
    expiry = NotALiveToken("it has expired");
  }
  if (!expiry.ok()) {
    done(expiry.status());
    return;
  }
  const std::string key = TokenKey(token);
  std::optional<absl::StatusOr<std::string>> cached;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (it->second.expires > now) {
        cached = it->second.identity;
      } else {
        cache_.erase(it);
      }
    }
  }
  if (cached.has_value()) {
    done(*std::move(cached));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = pending_.find(key); it != pending_.end()) {
      it->second.waiting.push_back(std::move(done));
      return;
    }
    if (!stopping_ &&
        static_cast<int>(pending_.size()) < options_.max_pending_reviews) {
      Pending& pending = pending_[key];
      pending.token = token;
      pending.token_expiry = *expiry;
      pending.waiting.push_back(std::move(done));
      queue_.push_back(key);
      return;
    }
  }
  done(absl::UnavailableError(
      absl::StrCat("too many callers' tokens are being verified at once "
                   "(server.auth.token.maxPendingReviews ",
                   options_.max_pending_reviews, "); retry")));
}

absl::StatusOr<std::string> TokenAuthenticator::Review(const Pending& pending) {
  absl::StatusOr<TokenVerdict> verdict =
      review_(pending.token, options_.audience, cancel_);
  if (!verdict.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot verify the caller's token with the Kubernetes "
                     "API (TokenReview): ",
                     verdict.status().message()));
  }
  if (!verdict->authenticated) {
    return NotALiveToken(verdict->error.empty() ? "the API server refused it"
                                                : verdict->error);
  }
  // The API server names the audiences the token is valid for; a token
  // without ours must not pass even if an older server ignored the ask.
  if (std::find(verdict->audiences.begin(), verdict->audiences.end(),
                options_.audience) == verdict->audiences.end()) {
    return NotALiveToken(
        absl::StrCat("its audience is not \"", options_.audience, "\""));
  }
  if (verdict->username.empty()) return NotALiveToken("it names no user");
  return verdict->username;
}

void TokenAuthenticator::ReviewLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](TokenAuthenticator* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
          return self->stopping_ || !self->queue_.empty();
        },
        this));
    if (stopping_) return;
    const std::string key = queue_.front();
    queue_.pop_front();
    const Pending& pending = pending_.at(key);  // stable until erased below
    ++reviews_;
    mu_.Unlock();
    absl::StatusOr<std::string> identity = Review(pending);
    mu_.Lock();
    auto it = pending_.find(key);
    if (it == pending_.end()) continue;  // handed to the destructor
    std::vector<Done> waiting = std::move(it->second.waiting);
    const absl::Time token_expiry = it->second.token_expiry;
    pending_.erase(it);
    const absl::Time now = absl::Now();
    if (identity.ok()) {
      CacheLocked(key, identity,
                  std::min(token_expiry, now + options_.cache_ttl));
    } else if (absl::IsUnauthenticated(identity.status())) {
      CacheLocked(key, identity, now + kRefusalCacheTtl);
    }
    mu_.Unlock();
    for (Done& done : waiting) done(identity);
    mu_.Lock();
  }
}

void TokenAuthenticator::CacheLocked(const std::string& key,
                                     absl::StatusOr<std::string> identity,
                                     absl::Time expires) {
  if (static_cast<int>(cache_.size()) >= options_.cache_size) {
    const absl::Time now = absl::Now();
    std::erase_if(
        cache_, [&](const auto& entry) { return entry.second.expires <= now; });
  }
  if (static_cast<int>(cache_.size()) >= options_.cache_size) {
    cache_.erase(std::min_element(cache_.begin(), cache_.end(),
                                  [](const auto& a, const auto& b) {
                                    return a.second.expires < b.second.expires;
                                  }));
  }
  cache_[key] = Cached{std::move(identity), expires};
}

}  // namespace codeexec
