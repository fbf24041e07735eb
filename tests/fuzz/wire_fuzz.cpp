// Decodes arbitrary bytes as a wire message, without and with a key and replay guard.
// Must never crash or read out of bounds; an accepted message must re-encode to a datagram
// that decodes to the same type.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>

#include "control/wire/messages.h"

namespace {

using namespace shortline::wire;

const AuthKey& fuzz_key() {
  static const AuthKey key = [] {
    AuthKey k;
    for (std::size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<uint8_t>(i * 7);
    return k;
  }();
  return key;
}

void check_round_trip(const Decoded& decoded) {
  std::array<uint8_t, 65536> out{};
  const std::size_t size = std::visit(
      [&out](const auto& message) -> std::size_t { return encode(message, out); },
      decoded.message);
  if (size == 0) std::abort();
  const Decoded again = decode(std::span<const uint8_t>(out).first(size));
  if (!again.ok() || again.message.index() != decoded.message.index()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const Decoded plain = decode(bytes);
  if (plain.ok()) check_round_trip(plain);
  (void)peek_type(bytes);

  static ReplayGuard guard(16);
  const Decoded keyed = decode(bytes, DecodeOptions{&fuzz_key(), &guard});
  if (keyed.ok() && keyed.authenticated != (keyed.message.index() <= 2)) std::abort();
  if (guard.size() == guard.capacity()) guard.forget(keyed.stamp.sender_id);
  return 0;
}
