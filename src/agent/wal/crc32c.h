// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
// WAL record and segment header. Slicing-by-8 in portable C++: about 1 byte per
// cycle, enough for a WAL that writes a few MB/s; no CPU-specific code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace promsidecar::wal {

// Continues a CRC: Crc32c(Crc32c(0, a), b) == Crc32c(0, a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view data) {
  return Crc32cExtend(0, data.data(), data.size());
}

}  // namespace promsidecar::wal
