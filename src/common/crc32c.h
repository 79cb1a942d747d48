// CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of the event log's frames.
// Crc32c(data, n, crc) extends a previous Crc32c result, so
//   Crc32c(ab) == Crc32c(b, |b|, Crc32c(a, |a|)).
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at runtime), a
// slicing-by-8 table otherwise. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace impulse {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

namespace crc32c_internal {
// Both implementations, exposed so tests can check each against known vectors.
uint32_t Software(const void* data, size_t n, uint32_t crc);
// Precondition: HardwareAvailable(). Calling it on a CPU without SSE4.2 is SIGILL.
uint32_t Hardware(const void* data, size_t n, uint32_t crc);
bool HardwareAvailable();
}  // namespace crc32c_internal

}  // namespace impulse
