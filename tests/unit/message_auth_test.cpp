// Keyed tags, key files and the replay guard's fixed-capacity table.
#include "control/wire/message_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace shortline::wire {
namespace {

// A key file that removes itself.
class TempFile {
 public:
  explicit TempFile(const std::string& content)
      : path_(::testing::TempDir() + "auth_key_" + std::to_string(::getpid()) + "_" +
              std::to_string(std::hash<std::string>{}(content))) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(MessageAuth, TagVerifiesOnlyWithSameKeyAndData) {
  AuthKey key;
  key.bytes.fill(1);
  AuthKey other;
  other.bytes.fill(2);
  const std::array<uint8_t, 5> data = {1, 2, 3, 4, 5};
  const auto tag = compute_tag(key, data);
  EXPECT_TRUE(verify_tag(key, data, tag));
  EXPECT_FALSE(verify_tag(other, data, tag));
  const std::array<uint8_t, 5> changed = {1, 2, 3, 4, 6};
  EXPECT_FALSE(verify_tag(key, changed, tag));
  EXPECT_FALSE(verify_tag(key, data, std::span<const uint8_t>(tag).first(31)));
}

TEST(MessageAuth, KeyFileHexOrRaw) {
  std::string error;
  const std::string hex(64, 'a');
  auto key = AuthKey::load_file(TempFile("  " + hex + "\n").path(), error);
  ASSERT_TRUE(key.has_value()) << error;
  EXPECT_EQ(key->bytes[0], 0xAA);
  EXPECT_EQ(key->bytes[31], 0xAA);

  const std::string raw(32, '\x07');
  key = AuthKey::load_file(TempFile(raw).path(), error);
  ASSERT_TRUE(key.has_value()) << error;
  EXPECT_EQ(key->bytes[5], 7);

  EXPECT_FALSE(AuthKey::load_file(TempFile("short").path(), error).has_value());
  EXPECT_NE(error.find("64 hex digits"), std::string::npos);
  const TempFile not_hex(std::string(63, 'a') + "g");
  EXPECT_FALSE(AuthKey::load_file(not_hex.path(), error).has_value());
  EXPECT_FALSE(AuthKey::load_file("/nonexistent/key", error).has_value());
  EXPECT_NE(error.find("cannot open"), std::string::npos);
}

TEST(MessageAuth, InitialSequenceGrows) {
  const uint64_t first = initial_auth_sequence();
  EXPECT_GT(first, 1'600'000'000'000'000'000ULL);  // after 2020, in nanoseconds
  EXPECT_GE(initial_auth_sequence(), first);
}

TEST(ReplayGuard, AcceptsOnlyIncreasingPerSender) {
  ReplayGuard guard(8);
  EXPECT_EQ(guard.check({1, 5}), ReplayGuard::Verdict::fresh);
  guard.commit({1, 5});
  EXPECT_EQ(guard.check({1, 5}), ReplayGuard::Verdict::replayed);
  EXPECT_EQ(guard.check({1, 4}), ReplayGuard::Verdict::replayed);
  EXPECT_EQ(guard.check({1, 6}), ReplayGuard::Verdict::fresh);
  EXPECT_EQ(guard.check({2, 0}), ReplayGuard::Verdict::fresh);  // another sender
}

TEST(ReplayGuard, FullTableRejectsNewSendersButKeepsOld) {
  ReplayGuard guard(3);
  for (uint32_t id = 1; id <= 3; ++id) guard.commit({id, 1});
  EXPECT_EQ(guard.size(), 3U);
  EXPECT_EQ(guard.check({4, 1}), ReplayGuard::Verdict::table_full);
  EXPECT_EQ(guard.check({2, 2}), ReplayGuard::Verdict::fresh);
  guard.forget(2);
  EXPECT_EQ(guard.size(), 2U);
  EXPECT_EQ(guard.check({4, 1}), ReplayGuard::Verdict::fresh);
  guard.forget(99);  // unknown: no effect
  EXPECT_EQ(guard.size(), 2U);
}

// Many inserts and removals: every remaining sender stays findable (backward-shift delete).
TEST(ReplayGuard, ForgetKeepsProbeRunsIntact) {
  ReplayGuard guard(64);
  for (uint32_t id = 0; id < 64; ++id) guard.commit({id * 1024, id + 1});
  for (uint32_t id = 0; id < 64; id += 3) guard.forget(id * 1024);
  for (uint32_t id = 0; id < 64; ++id) {
    const auto verdict = guard.check({id * 1024, id + 1});
    if (id % 3 == 0) {
      EXPECT_EQ(verdict, ReplayGuard::Verdict::fresh) << id;
    } else {
      EXPECT_EQ(verdict, ReplayGuard::Verdict::replayed) << id;
    }
  }
}

}  // namespace
}  // namespace shortline::wire
