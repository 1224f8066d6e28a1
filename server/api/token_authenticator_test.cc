// TokenAuthenticator with a scripted TokenReview (the function it is given):
// the cache, shared reviews, the bounds and the token-shape checks.
#include "server/api/token_authenticator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace codeexec {
namespace {

std::string Jwt(absl::Time expires, const std::string& subject) {
  return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"RS256"})"), ".",
                      absl::WebSafeBase64Escape(nlohmann::json{
                          {"exp", absl::ToUnixSeconds(expires)},
                          {"sub", subject}}.dump()),
                      ".sig");
}

std::string LiveJwt(const std::string& subject) {
  return Jwt(absl::Now() + absl::Hours(1), subject);
}

// The API server: tokens whose subject starts with "sa:" are that service
// account's (for `audience` only); "down" fails the review; others are
// refused. `gate`, when set, holds every review until notified.
class ScriptedApiServer {
 public:
  TokenReviewFn Fn() {
    return [this](const std::string& token, const std::string& audience,
                  const Cancellation& cancel) -> absl::StatusOr<TokenVerdict> {
      ++reviews;
      if (gate != nullptr) {
        while (!gate->WaitForNotificationWithTimeout(absl::Milliseconds(10))) {
          if (cancel.IsCancelled()) return absl::CancelledError("stopping");
        }
      }
      const std::string subject = Subject(token);
      if (subject == "down")
        return absl::UnavailableError("connection refused");
      TokenVerdict verdict;
      if (subject.starts_with("sa:")) {
        verdict.authenticated = true;
        verdict.username = "system:serviceaccount:" + subject.substr(3);
        if (subject != "sa:no-audience") verdict.audiences = {audience};
      } else {
        verdict.error = "invalid bearer token";
      }
      return verdict;
    };
  }
  std::atomic<int> reviews{0};
  absl::Notification* gate = nullptr;

 private:
  static std::string Subject(const std::string& token) {
    std::string payload;
    absl::WebSafeBase64Unescape(
        token.substr(token.find('.') + 1,
                     token.rfind('.') - token.find('.') - 1),
        &payload);
    return nlohmann::json::parse(payload).value("sub", "");
  }
};

absl::StatusOr<std::string> AuthenticateNow(TokenAuthenticator& auth,
                                            const std::string& token) {
  std::promise<absl::StatusOr<std::string>> result;
  auth.Authenticate(token, [&](absl::StatusOr<std::string> identity) {
    result.set_value(std::move(identity));
  });
  return result.get_future().get();
}

TEST(JwtExpiryTest, ReadsExpAndRefusesWhatIsNotAJwt) {
  const absl::Time expires = absl::FromUnixSeconds(2000000000);
  EXPECT_EQ(*JwtExpiry(Jwt(expires, "x")), expires);
  for (const std::string& token :
       {std::string("opaque-token"), std::string("a.b"), std::string("a.!!!.c"),
        absl::StrCat("h.", absl::WebSafeBase64Escape(R"({"sub":"x"})"), ".s"),
        absl::StrCat("h.", absl::WebSafeBase64Escape("not json"), ".s")}) {
    EXPECT_TRUE(absl::IsUnauthenticated(JwtExpiry(token).status())) << token;
  }
}

TEST(TokenAuthenticatorTest, AReviewedTokenIsReviewedOnceForManyCalls) {
  ScriptedApiServer api;
  TokenAuthenticator auth(TokenAuthOptions(), api.Fn());
  const std::string token = LiveJwt("sa:team-a:agent");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(*AuthenticateNow(auth, token),
              "system:serviceaccount:team-a:agent");
  }
  EXPECT_EQ(api.reviews, 1);
  EXPECT_EQ(auth.reviews(), 1);
}

TEST(TokenAuthenticatorTest, CallersWaitingForOneTokenShareItsReview) {
  ScriptedApiServer api;
  absl::Notification gate;
  api.gate = &gate;
  TokenAuthenticator auth(TokenAuthOptions(), api.Fn());
  const std::string token = LiveJwt("sa:team-a:agent");
  std::promise<void> all_done;
  std::atomic<int> answered{0};
  for (int i = 0; i < 3; ++i) {
    auth.Authenticate(token, [&](absl::StatusOr<std::string> identity) {
      EXPECT_EQ(identity.value_or(""), "system:serviceaccount:team-a:agent");
      if (++answered == 3) all_done.set_value();
    });
  }
  gate.Notify();
  all_done.get_future().wait();
  EXPECT_EQ(api.reviews, 1);
}

TEST(TokenAuthenticatorTest, ARefusalIsRememberedAnOutageIsNot) {
  ScriptedApiServer api;
  TokenAuthenticator auth(TokenAuthOptions(), api.Fn());
  const std::string stranger = LiveJwt("stranger");
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> refused = AuthenticateNow(auth, stranger);
    EXPECT_TRUE(absl::IsUnauthenticated(refused.status()));
    EXPECT_NE(refused.status().message().find("invalid bearer token"),
              std::string::npos);
  }
  EXPECT_EQ(api.reviews, 1);
  const std::string down = LiveJwt("down");
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> unavailable = AuthenticateNow(auth, down);
    EXPECT_TRUE(absl::IsUnavailable(unavailable.status()));
    EXPECT_NE(unavailable.status().message().find("connection refused"),
              std::string::npos);
  }
  EXPECT_EQ(api.reviews, 3);
}

TEST(TokenAuthenticatorTest, AVerdictWithoutOurAudienceIsARefusal) {
  ScriptedApiServer api;
  TokenAuthenticator auth(TokenAuthOptions(), api.Fn());
  absl::StatusOr<std::string> refused =
      AuthenticateNow(auth, LiveJwt("sa:no-audience"));
  EXPECT_TRUE(absl::IsUnauthenticated(refused.status()));
  EXPECT_NE(refused.status().message().find("code-executor"),
            std::string::npos);
}

TEST(TokenAuthenticatorTest, ExpiredAndMalformedTokensAreNeverReviewed) {
  ScriptedApiServer api;
  TokenAuthenticator auth(TokenAuthOptions(), api.Fn());
  EXPECT_TRUE(absl::IsUnauthenticated(
      AuthenticateNow(auth, Jwt(absl::Now() - absl::Seconds(1), "sa:a:b"))
          .status()));
  EXPECT_TRUE(
      absl::IsUnauthenticated(AuthenticateNow(auth, "not-a-jwt").status()));
  EXPECT_EQ(api.reviews, 0);
}

TEST(TokenAuthenticatorTest, AVerdictLastsNoLongerThanItsTokenOrTheTtl) {
  ScriptedApiServer api;
  TokenAuthOptions no_cache;
  no_cache.cache_ttl = absl::ZeroDuration();
  TokenAuthenticator uncached(no_cache, api.Fn());
  const std::string token = LiveJwt("sa:a:b");
  ASSERT_TRUE(AuthenticateNow(uncached, token).ok());
  ASSERT_TRUE(AuthenticateNow(uncached, token).ok());
  EXPECT_EQ(api.reviews, 2);

  ScriptedApiServer api2;
  TokenAuthenticator cached(TokenAuthOptions(), api2.Fn());
  const std::string short_lived = Jwt(absl::Now() + absl::Seconds(2), "sa:a:b");
  ASSERT_TRUE(AuthenticateNow(cached, short_lived).ok());
  absl::SleepFor(absl::Seconds(2.1));
  // Past its exp: refused by its shape, the cached "yes" notwithstanding.
  EXPECT_TRUE(
      absl::IsUnauthenticated(AuthenticateNow(cached, short_lived).status()));
  EXPECT_EQ(api2.reviews, 1);
}

TEST(TokenAuthenticatorTest, TheCacheIsBoundedForgettingTheSoonestToExpire) {
  ScriptedApiServer api;
  TokenAuthOptions options;
  options.cache_size = 2;
  TokenAuthenticator auth(options, api.Fn());
  const absl::Time now = absl::Now();
  const std::string soonest = Jwt(now + absl::Minutes(2), "sa:a:one");
  const std::string later = Jwt(now + absl::Minutes(3), "sa:a:two");
  const std::string latest = Jwt(now + absl::Minutes(4), "sa:a:three");
  for (const std::string& token : {soonest, later, latest}) {
    ASSERT_TRUE(AuthenticateNow(auth, token).ok());
  }
  EXPECT_EQ(api.reviews, 3);
  ASSERT_TRUE(AuthenticateNow(auth, later).ok());
  ASSERT_TRUE(AuthenticateNow(auth, latest).ok());
  EXPECT_EQ(api.reviews, 3);
  ASSERT_TRUE(AuthenticateNow(auth, soonest).ok());  // forgotten: again
  EXPECT_EQ(api.reviews, 4);
}

TEST(TokenAuthenticatorTest, PendingReviewsAreBounded) {
  ScriptedApiServer api;
  absl::Notification gate;
  api.gate = &gate;
  TokenAuthOptions options;
  options.max_pending_reviews = 1;
  TokenAuthenticator auth(options, api.Fn());
  std::promise<absl::StatusOr<std::string>> first;
  auth.Authenticate(LiveJwt("sa:a:one"), [&](absl::StatusOr<std::string> id) {
    first.set_value(std::move(id));
  });
  absl::StatusOr<std::string> second = AuthenticateNow(auth, LiveJwt("sa:a:2"));
  EXPECT_TRUE(absl::IsUnavailable(second.status()));
  EXPECT_NE(second.status().message().find("maxPendingReviews"),
            std::string::npos);
  gate.Notify();
  EXPECT_TRUE(first.get_future().get().ok());
}

TEST(TokenAuthenticatorTest, StoppingAnswersTheWaitingCallers) {
  ScriptedApiServer api;
  absl::Notification gate;  // never notified: the review waits for cancel
  api.gate = &gate;
  std::promise<absl::StatusOr<std::string>> answer;
  {
    TokenAuthenticator auth(TokenAuthOptions(), api.Fn(), /*threads=*/1);
    auth.Authenticate(LiveJwt("sa:a:one"), [&](absl::StatusOr<std::string> id) {
      answer.set_value(std::move(id));
    });
    auth.Authenticate(LiveJwt("sa:a:two"), [&](absl::StatusOr<std::string>) {});
    while (api.reviews == 0) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(absl::IsUnavailable(answer.get_future().get().status()));
}

}  // namespace
}  // namespace codeexec
