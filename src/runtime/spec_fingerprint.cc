#include "runtime/spec_fingerprint.h"

#include <xxhash.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "common/logger.h"
#include "impulse/env.h"

namespace impulse::runtime {

namespace {

constexpr std::string_view kHeader = "impulse-spec-v1 xxh64 ";

struct StreamFacts {
  std::string partitions;
  std::vector<std::pair<std::string, std::string>> fields;  // name, "type[ nullable]"
};

struct Facts {
  std::map<std::string, StreamFacts> streams;
  std::map<std::string, std::vector<std::string>> pipelines;
  std::vector<std::string> stream_order, pipeline_order;
};

Facts Parse(const std::string& summary) {
  Facts f;
  std::istringstream in(summary);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string kind, name, what;
    words >> kind >> name >> what;
    std::string rest;
    std::getline(words, rest);
    if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
    if (kind == "stream") {
      if (!f.streams.contains(name)) f.stream_order.push_back(name);
      StreamFacts& s = f.streams[name];
      if (what == "partitions") {
        s.partitions = rest;
      } else if (what == "field") {
        const size_t sp = rest.find(' ');
        s.fields.emplace_back(rest.substr(0, sp), sp == std::string::npos ? "" : rest.substr(sp + 1));
      }
    } else if (kind == "pipeline") {
      if (!f.pipelines.contains(name)) f.pipeline_order.push_back(name);
      f.pipelines[name].push_back(what + (rest.empty() ? "" : " " + rest));
    }
  }
  return f;
}

std::string Clip(const std::string& s) { return s.size() <= 100 ? s : s.substr(0, 97) + "..."; }

void StreamDifferences(const std::string& name, const StreamFacts& a, const StreamFacts& b,
                       std::vector<std::string>* out) {
  const std::string p = "stream " + name + ": ";
  if (a.partitions != b.partitions) out->push_back(p + "partitions changed " + a.partitions + " -> " + b.partitions);
  auto find = [](const StreamFacts& s, const std::string& field) -> const std::string* {
    for (const auto& [n, t] : s.fields) {
      if (n == field) return &t;
    }
    return nullptr;
  };
  for (const auto& [n, t] : a.fields) {
    const std::string* now = find(b, n);
    if (now == nullptr) {
      out->push_back(p + "field " + n + " removed");
    } else if (*now != t) {
      out->push_back(p + "field " + n + " type changed " + t + " -> " + *now);
    }
  }
  for (const auto& [n, t] : b.fields) {
    if (find(a, n) == nullptr) out->push_back(p + "field " + n + " added (" + t + ")");
  }
  if (out->empty() || out->back().rfind(p, 0) != 0) {
    std::vector<std::string> na, nb;
    for (const auto& f : a.fields) na.push_back(f.first);
    for (const auto& f : b.fields) nb.push_back(f.first);
    if (na != nb) out->push_back(p + "fields reordered");
  }
}

}  // namespace

std::string SpecSummary(const plan::LogicalPlan& plan) {
  std::string out;
  for (const StreamDef& s : plan.streams) {
    out += "stream " + s.name + " partitions " + std::to_string(s.options.partitions) + "\n";
    for (const Field& f : s.schema.fields()) {
      out += "stream " + s.name + " field " + f.name + " " + std::string(FieldTypeName(f.type)) +
             (f.nullable ? " nullable" : "") + "\n";
    }
  }
  // The plan's own rendering of each pipeline (steps with their expressions, output schemas, sink).
  std::istringstream in(plan.ToString());
  std::string pipeline;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("stream ", 0) == 0) continue;
    if (line.rfind("pipeline ", 0) == 0) {
      const size_t end = line.find(' ', 9);
      pipeline = line.substr(9, end == std::string::npos ? std::string::npos : end - 9);
      out += "pipeline " + pipeline + " " + (end == std::string::npos ? "" : line.substr(end + 1)) + "\n";
      continue;
    }
    const size_t first = line.find_first_not_of(' ');
    if (!pipeline.empty() && first != std::string::npos)
      out += "pipeline " + pipeline + " " + line.substr(first) + "\n";
  }
  return out;
}

std::string StreamFileToSummary(const std::string& name, const std::string& stream_file) {
  std::string out;
  std::istringstream in(stream_file);
  std::string line;
  std::getline(in, line);  // the format line
  while (std::getline(in, line)) {
    if (line.rfind("partitions ", 0) == 0) {
      out += "stream " + name + " " + line + "\n";
    } else if (!line.empty()) {
      out += "stream " + name + " field " + line + "\n";
    }
  }
  return out;
}

std::vector<std::string> SpecDifferences(const std::string& stored, const std::string& current) {
  std::vector<std::string> out;
  if (stored == current) return out;
  const Facts a = Parse(stored), b = Parse(current);
  for (const std::string& s : a.stream_order) {
    auto it = b.streams.find(s);
    if (it == b.streams.end()) {
      out.push_back("stream " + s + " removed");
    } else {
      StreamDifferences(s, a.streams.at(s), it->second, &out);
    }
  }
  for (const std::string& s : b.stream_order) {
    if (!a.streams.contains(s)) out.push_back("stream " + s + " added");
  }
  for (const std::string& p : a.pipeline_order) {
    auto it = b.pipelines.find(p);
    if (it == b.pipelines.end()) {
      out.push_back("pipeline " + p + " removed");
      continue;
    }
    const std::vector<std::string>& x = a.pipelines.at(p);
    const std::vector<std::string>& y = it->second;
    for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
      const std::string before = i < x.size() ? x[i] : "(nothing)";
      const std::string after = i < y.size() ? y[i] : "(nothing)";
      if (before != after) {
        out.push_back("pipeline " + p + " changed: '" + Clip(before) + "' -> '" + Clip(after) + "'");
        break;
      }
    }
  }
  for (const std::string& p : b.pipeline_order) {
    if (!a.pipelines.contains(p)) out.push_back("pipeline " + p + " added");
  }
  if (out.empty()) out.push_back("the spec's rendering changed");
  return out;
}

namespace {

std::string FingerprintText(const std::string& summary) {
  char hash[17];
  std::snprintf(hash, sizeof(hash), "%016llx",
                static_cast<unsigned long long>(XXH64(summary.data(), summary.size(), 0)));
  return std::string(kHeader) + hash + "\n" + summary;
}

}  // namespace

Status CheckSpecFingerprint(Env* env, const std::string& data_dir, const plan::LogicalPlan& plan, bool accept_change,
                            bool* record) {
  *record = true;  // a new directory, or one written before fingerprints (adopts this spec)
  const std::string summary = SpecSummary(plan);
  const std::string path = data_dir + "/SPEC";
  if (!env->FileExists(path)) return Status::OK();
  ASSIGN_OR_RETURN(std::string stored, env->ReadFile(path));
  if (stored == FingerprintText(summary)) {
    *record = false;
    return Status::OK();
  }
  if (stored.rfind(kHeader, 0) != 0) {
    return FailedPrecondition(path + " is not a spec fingerprint (its first line is not '" + std::string(kHeader) +
                              "...')");
  }
  const size_t nl = stored.find('\n');
  const std::vector<std::string> diff = SpecDifferences(nl == std::string::npos ? "" : stored.substr(nl + 1), summary);
  if (!accept_change) {
    std::string msg = "the data directory " + data_dir + " was created with another spec: ";
    for (size_t i = 0; i < diff.size(); ++i) msg += (i > 0 ? "; " : "") + diff[i];
    return FailedPrecondition(msg +
                              ". Use a new --data-dir, run the old spec, or take the directory over with "
                              "--accept-spec-change (docs/OPERATIONS.md: what happens to logs, cursors and state)");
  }
  for (const std::string& d : diff) LogWarn("spec_change", "accepted spec change: " + d, {{"change", d}});
  return Status::OK();
}

Status RecordSpecFingerprint(Env* env, const std::string& data_dir, const plan::LogicalPlan& plan) {
  return env->WriteFileAtomic(data_dir + "/SPEC", FingerprintText(SpecSummary(plan)));
}

}  // namespace impulse::runtime
