// UserData: every OpKind round-trips through the 64-bit io_uring user_data, and the 24-bit
// generation compares correctly across its wrap.
#include "dataplane/user_data.h"

#include <gtest/gtest.h>

namespace shortline {
namespace {

constexpr OpKind kAllKinds[] = {OpKind::listen_receive, OpKind::upstream_receive,
                                OpKind::upstream_send, OpKind::client_send, OpKind::cancel};

TEST(UserDataTest, EveryKindRoundTrips) {
  const uint32_t generations[] = {0, 1, 0x123456, 0xffffff};
  const uint32_t indexes[] = {0, 1, 4095, 0x7fffffff, 0xffffffff};
  for (OpKind kind : kAllKinds) {
    for (uint32_t generation : generations) {
      for (uint32_t index : indexes) {
        const uint64_t encoded = UserData{kind, generation, index}.encode();
        EXPECT_NE(encoded, 0u);  // 0 never names a real operation
        const UserData decoded = UserData::decode(encoded);
        EXPECT_EQ(decoded.kind, kind);
        EXPECT_EQ(decoded.generation, generation);
        EXPECT_EQ(decoded.index, index);
      }
    }
  }
}

TEST(UserDataTest, FieldsDoNotOverlap) {
  const uint64_t all_ones = UserData{OpKind::cancel, 0xffffff, 0xffffffff}.encode();
  const UserData decoded = UserData::decode(all_ones);
  EXPECT_EQ(decoded.kind, OpKind::cancel);
  EXPECT_EQ(UserData::decode(UserData{OpKind::client_send, 0xffffff, 0}.encode()).index, 0u);
  EXPECT_EQ(UserData::decode(UserData{OpKind::client_send, 0, 0xffffffff}.encode()).generation,
            0u);
}

TEST(UserDataTest, GenerationKeepsItsLow24Bits) {
  // A session generation is 32 bits; user_data carries its low 24.
  const UserData decoded =
      UserData::decode(UserData{OpKind::upstream_receive, 0x01234567, 9}.encode());
  EXPECT_EQ(decoded.generation, 0x234567u);
  EXPECT_EQ(decoded.kind, OpKind::upstream_receive);
  EXPECT_EQ(decoded.index, 9u);
}

TEST(UserDataTest, SameGenerationHandlesTheWrap) {
  // A session at generation 2^24 (its 24-bit form wrapped to 0) matches a completion
  // encoded for it, and not one from the previous generation.
  const uint32_t session_generation = 0x1000000;
  const uint32_t carried =
      UserData::decode(UserData{OpKind::upstream_send, session_generation, 3}.encode()).generation;
  EXPECT_EQ(carried, 0u);
  EXPECT_TRUE(UserData::same_generation(session_generation, carried));
  EXPECT_FALSE(UserData::same_generation(session_generation, 0xffffff));
  EXPECT_FALSE(UserData::same_generation(session_generation + 1, carried));
  EXPECT_TRUE(UserData::same_generation(0x0abcdef1, 0xffbcdef1));
  EXPECT_TRUE(UserData::same_generation(7, 7));
  EXPECT_FALSE(UserData::same_generation(7, 8));
}

}  // namespace
}  // namespace shortline
