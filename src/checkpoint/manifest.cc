#include "checkpoint/manifest.h"

#include <charconv>
#include <cstdio>

#include "common/crc32c.h"

namespace impulse::checkpoint {
namespace {

constexpr std::string_view kMagic = "IMPULSE-CHECKPOINT";

// Names and the fingerprint are percent-escaped so that a field never holds a space, a
// newline or a control byte: every line splits on single spaces.
bool NeedsEscape(unsigned char c) { return c <= 0x20 || c == 0x7f || c == '%'; }

void AppendEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (NeedsEscape(c)) {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(ch);
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool Unescape(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      if (NeedsEscape(static_cast<unsigned char>(s[i]))) return false;
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;  // "%X" at the end
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

template <typename T>
bool ParseNumber(std::string_view s, T* v, int base = 10) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

// Splits `line` on single spaces into exactly `n` fields.
bool SplitFields(std::string_view line, size_t n, std::string_view* fields) {
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 == n) {
      if (line.find(' ') != std::string_view::npos) return false;
      fields[i] = line;
      return true;
    }
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return false;
    fields[i] = line.substr(0, sp);
    line.remove_prefix(sp + 1);
  }
  return true;
}

Status Corrupt(const std::string& why) { return DataLoss("manifest: " + why); }

}  // namespace

bool ValidStateFileName(std::string_view name) {
  return !name.empty() && name.size() <= kFileNameBytesMax && name != "." && name != ".." && name != kManifestName &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

Result<std::string> EncodeManifest(const CheckpointManifest& m) {
  if (m.positions.size() > kPositionsMax) {
    return InvalidArgument("checkpoint manifest: " + std::to_string(m.positions.size()) + " positions exceed " +
                           std::to_string(kPositionsMax));
  }
  if (m.files.size() > kFilesMax) return InvalidArgument("checkpoint manifest: too many files");
  if (m.spec_fingerprint.size() > kFingerprintBytesMax) {
    return InvalidArgument("checkpoint manifest: spec_fingerprint longer than " + std::to_string(kFingerprintBytesMax));
  }
  std::string out;
  out.reserve(128 + m.positions.size() * 48 + m.files.size() * 48);
  out += std::string(kMagic) + " " + std::to_string(kManifestVersion) + "\n";
  out += "id " + std::to_string(m.id) + "\n";
  out += "created_ms " + std::to_string(m.created_ms) + "\n";
  out += "pause_us " + std::to_string(m.pause_us) + "\n";
  out += "spec_fingerprint ";
  AppendEscaped(&out, m.spec_fingerprint);
  out += "\n";
  for (const auto& [name, value] : m.positions) {
    if (name.empty() || name.size() > kPositionNameBytesMax) {
      return InvalidArgument("checkpoint manifest: position name must be 1.." + std::to_string(kPositionNameBytesMax) +
                             " bytes");
    }
    out += "position ";
    AppendEscaped(&out, name);
    out += " " + std::to_string(value) + "\n";
    if (out.size() > kManifestBytesMax) return ResourceExhausted("checkpoint manifest larger than kManifestBytesMax");
  }
  for (const CheckpointManifest::File& f : m.files) {
    if (!ValidStateFileName(f.name)) return InvalidArgument("checkpoint manifest: bad file name");
    out += "file ";
    AppendEscaped(&out, f.name);
    out += " " + std::to_string(f.bytes) + " " + Hex8(f.crc32c) + "\n";
  }
  if (out.size() > kManifestBytesMax) return ResourceExhausted("checkpoint manifest larger than kManifestBytesMax");
  out += "crc32c " + Hex8(Crc32c(out.data(), out.size())) + "\n";
  return out;
}

Result<CheckpointManifest> DecodeManifest(std::string_view data) {
  if (data.size() > kManifestBytesMax + 64) return Corrupt("larger than the limit");
  if (data.empty() || data.back() != '\n') return Corrupt("empty or torn (no final newline)");
  // The last line is "crc32c <hex8>" over everything before it.
  const size_t last_start = data.rfind('\n', data.size() - 2);
  const size_t body_len = last_start == std::string_view::npos ? 0 : last_start + 1;
  std::string_view fields[3];
  const std::string_view last = data.substr(body_len, data.size() - body_len - 1);
  uint32_t crc = 0;
  if (!SplitFields(last, 2, fields) || fields[0] != "crc32c" || fields[1].size() != 8 ||
      !ParseNumber(fields[1], &crc, 16)) {
    return Corrupt("missing crc32c line (torn write?)");
  }
  if (Crc32c(data.data(), body_len) != crc) return Corrupt("checksum mismatch");

  CheckpointManifest m;
  std::string_view body = data.substr(0, body_len);
  bool first = true;
  std::string scratch;
  uint32_t seen = 0;  // bit per singleton key
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    const std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    const size_t sp = line.find(' ');
    const std::string_view key = line.substr(0, sp);
    const std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    if (first) {
      int version = 0;
      if (key != kMagic || !ParseNumber(rest, &version)) return Corrupt("not a checkpoint manifest");
      if (version != kManifestVersion) return Corrupt("unsupported version " + std::to_string(version));
      first = false;
      continue;
    }
    auto once = [&](uint32_t bit) {
      const bool dup = (seen & bit) != 0;
      seen |= bit;
      return !dup;
    };
    if (key == "id") {
      if (!once(1) || !ParseNumber(rest, &m.id)) return Corrupt("bad id line");
    } else if (key == "created_ms") {
      if (!once(2) || !ParseNumber(rest, &m.created_ms)) return Corrupt("bad created_ms line");
    } else if (key == "pause_us") {
      if (!once(4) || !ParseNumber(rest, &m.pause_us)) return Corrupt("bad pause_us line");
    } else if (key == "spec_fingerprint") {
      if (!once(8) || !Unescape(rest, &m.spec_fingerprint)) return Corrupt("bad spec_fingerprint line");
    } else if (key == "position") {
      uint64_t v = 0;
      if (!SplitFields(rest, 2, fields) || !Unescape(fields[0], &scratch) || scratch.empty() ||
          !ParseNumber(fields[1], &v)) {
        return Corrupt("bad position line");
      }
      if (m.positions.size() >= kPositionsMax) return Corrupt("too many positions");
      m.positions.emplace_back(scratch, v);
    } else if (key == "file") {
      CheckpointManifest::File f;
      if (!SplitFields(rest, 3, fields) || !Unescape(fields[0], &f.name) || !ValidStateFileName(f.name) ||
          !ParseNumber(fields[1], &f.bytes) || fields[2].size() != 8 || !ParseNumber(fields[2], &f.crc32c, 16)) {
        return Corrupt("bad file line");
      }
      if (m.files.size() >= kFilesMax) return Corrupt("too many files");
      m.files.push_back(std::move(f));
    } else {
      return Corrupt("unknown line '" + std::string(key.substr(0, 32)) + "'");
    }
  }
  if (first) return Corrupt("not a checkpoint manifest");
  if ((seen & 1) == 0) return Corrupt("no id");
  return m;
}

}  // namespace impulse::checkpoint
