// Bounds-checked big-endian (network byte order) reader and writer over a byte span.
// Both are sticky: the first out-of-bounds access marks the codec failed, later calls are
// no-ops that read zero, and the caller checks ok() once at the end. Nothing is ever cast
// from or to a struct; every field is assembled byte by byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace shortline::wire {

class ByteWriter {
 public:
  explicit ByteWriter(std::span<uint8_t> out) : out_(out) {}

  void u8(uint8_t value) { put(value, 1); }
  void u16(uint16_t value) { put(value, 2); }
  void u32(uint32_t value) { put(value, 4); }
  void u64(uint64_t value) { put(value, 8); }
  void bytes(std::span<const uint8_t> data) {
    if (!reserve(data.size())) return;
    if (!data.empty()) std::memcpy(out_.data() + position_, data.data(), data.size());
    position_ += data.size();
  }
  // Writes `count` zero bytes (padding).
  void zeros(std::size_t count) {
    if (!reserve(count)) return;
    if (count != 0) std::memset(out_.data() + position_, 0, count);
    position_ += count;
  }
  // Overwrites a u16 already written at `offset` (used to patch a length field).
  void patch_u16(std::size_t offset, uint16_t value) {
    if (!ok_ || offset + 2 > position_) {
      ok_ = false;
      return;
    }
    out_[offset] = static_cast<uint8_t>(value >> 8);
    out_[offset + 1] = static_cast<uint8_t>(value);
  }

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] std::span<const uint8_t> written() const { return out_.first(position_); }

 private:
  bool reserve(std::size_t count) {
    if (!ok_ || count > out_.size() - position_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  void put(uint64_t value, std::size_t width) {
    if (!reserve(width)) return;
    for (std::size_t i = 0; i < width; ++i) {
      out_[position_ + i] = static_cast<uint8_t>(value >> (8 * (width - 1 - i)));
    }
    position_ += width;
  }

  std::span<uint8_t> out_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}

  [[nodiscard]] uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  [[nodiscard]] uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  [[nodiscard]] uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  [[nodiscard]] uint64_t u64() { return get(8); }
  // Copies out.size() bytes; on failure fills `out` with zeros.
  void bytes(std::span<uint8_t> out) {
    if (!take(out.size())) {
      if (!out.empty()) std::memset(out.data(), 0, out.size());
      return;
    }
    if (!out.empty()) std::memcpy(out.data(), in_.data() + position_, out.size());
    position_ += out.size();
  }
  void skip(std::size_t count) {
    if (take(count)) position_ += count;
  }

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] std::size_t remaining() const { return ok_ ? in_.size() - position_ : 0; }

 private:
  bool take(std::size_t count) {
    if (!ok_ || count > in_.size() - position_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  uint64_t get(std::size_t width) {
    if (!take(width)) return 0;
    uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = (value << 8) | in_[position_ + i];
    position_ += width;
    return value;
  }

  std::span<const uint8_t> in_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

}  // namespace shortline::wire
