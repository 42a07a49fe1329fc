// The one string hash: 64-bit FNV-1a (Fowler–Noll–Vo), byte at a time.
//
// Header-only and constexpr so the agent's per-series label hash inlines to
// the same loop it always was. Not a cryptographic hash: use it for cache
// slots, names and change detection, never where an attacker picks inputs
// to collide on purpose.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace promsidecar {

inline constexpr uint64_t kFnv1a64Prime = 1099511628211ULL;
inline constexpr uint64_t kFnv1a64OffsetBasis = 14695981039346656037ULL;

// The operator's hashes started from 1469598103934665603, the offset basis
// with its last digit lost, so they are not FNV-1a. They end up in objects
// that live in clusters — pod annotations compared on every reconcile
// (config and injection-fragment hashes), projected-token volume names and
// mount paths in pod specs, Event names — so switching to the real basis
// would make every injected pod look out of date at once. The constant
// stays, under a name that says what it is; the outputs are pinned in
// test/common/util/hash_test.cc.
inline constexpr uint64_t kLegacyTruncatedFnv1a64Basis = 1469598103934665603ULL;

// Incremental FNV-1a 64: feed bytes, read value(). The basis is a parameter
// only for the legacy hashes above and for continuing from an earlier value.
class Fnv1a64 {
 public:
  constexpr Fnv1a64() = default;
  constexpr explicit Fnv1a64(uint64_t start) : h_(start) {}

  constexpr void AddByte(unsigned char c) { h_ = (h_ ^ c) * kFnv1a64Prime; }
  constexpr void Add(std::string_view bytes) {
    for (unsigned char c : bytes) AddByte(c);
  }
  // The bytes, then 0xff: a byte that never occurs in UTF-8 (nor in label
  // names), so a sequence of fields hashes unambiguously — ("ab", "c") and
  // ("a", "bc") differ — without a length prefix.
  constexpr void AddField(std::string_view bytes) {
    Add(bytes);
    AddByte(0xff);
  }
  // The 8 bytes of `word`, least significant first (independent of the
  // machine's byte order).
  constexpr void AddWord(uint64_t word) {
    for (int i = 0; i < 8; ++i) AddByte(static_cast<unsigned char>(word >> (8 * i)));
  }

  constexpr uint64_t value() const { return h_; }

 private:
  uint64_t h_ = kFnv1a64OffsetBasis;
};

constexpr uint64_t HashFnv1a64(std::string_view bytes) {
  Fnv1a64 h;
  h.Add(bytes);
  return h.value();
}

// See kLegacyTruncatedFnv1a64Basis: only for hashes that must keep the
// values already stored in clusters.
constexpr uint64_t LegacyTruncatedFnv1a64(std::string_view bytes) {
  Fnv1a64 h(kLegacyTruncatedFnv1a64Basis);
  h.Add(bytes);
  return h.value();
}

// 16 lowercase hex digits, zero-padded: the form the hashes take in names
// and annotations.
std::string HashHex(uint64_t hash);

}  // namespace promsidecar
