// `impulse demo personalization`: simulates the shop in process, builds the held-out cases and
// scores each recommendation source on them (evaluation.h): the popularity baselines, the
// engine's ranker (rank.yaml backfilled over the simulation, ranker_run.h) as (a), its nightly
// variant as (b) when the spec has one, and recorded lists (--recs).
//
// Not here yet (issue 18): the ranking path's throughput and latency.
#include "examples/personalization/demo/demo.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "common/command_line.h"
#include "common/share_dir.h"
#include "datagen/common/text_format.h"
#include "examples/personalization/demo/evaluation.h"
#include "examples/personalization/demo/ranker_run.h"

namespace impulse::examples {
namespace {

namespace po = boost::program_options;
using personalization::Case;
using personalization::Evaluation;
using personalization::PopularityOptions;
using personalization::PopularitySource;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage = "impulse demo personalization [options]";
constexpr const char* kNightlyStream = "recommendations_nightly";

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double PeakRssMiB() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

// One phase's line on stderr: what was done, its wall time and the process's peak RSS so far.
void Phase(const std::string& what, double seconds) {
  std::fprintf(stderr, "demo personalization: %s (%.1f s; peak RSS %.0f MiB)\n", what.c_str(), seconds, PeakRssMiB());
}

// A fresh temporary directory for the simulation's CSV, removed on destruction.
class TempDir {
 public:
  static Result<TempDir> Create() {
    std::error_code ec;
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "impulse-personalization-XXXXXX").string();
    if (ec) tmpl = "/tmp/impulse-personalization-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus("create temporary directory " + tmpl, errno);
    TempDir d;
    d.path_ = tmpl;
    return d;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Date(int64_t epoch_day) {
  std::string s;
  datagen::AppendDateTime(epoch_day * shop::kSecondsPerDay, datagen::OutputFormat::kCsv, &s);
  return s.substr(0, 10);
}

void PrintRow(const std::string& name, const Evaluation& e) {
  std::printf("%-44s %8.4f %8.4f   %8.4f %8.4f   ", name.c_str(), e.next_click.hit_rate(), e.next_click.ndcg(),
              e.next_purchase.hit_rate(), e.next_purchase.ndcg());
  if (e.freshness.lists == 0) {
    std::printf("%17s\n", "n/a");  // lists without an as-of time
  } else {
    std::printf("%7.0f / %7.0f\n", e.freshness.p50_seconds / 60, e.freshness.p90_seconds / 60);
  }
}

}  // namespace

int PersonalizationDemoCommand(const std::vector<std::string>& args) {
  const auto t_start = Clock::now();
  shop::SimulatorOptions sim;
  uint32_t heldout_days = 7;
  uint32_t shards = 2;
  // The ranker's two backfills take about 6 CPU minutes each per million simulated events (their
  // memory is bounded by the backfill's pacing: 0.9 GiB for the default shop's 1 M;
  // docs/BENCHMARKS.md, "Backfill pacing"): beyond this many the demo does not start them.
  uint64_t ranker_events_max = 5'000'000;
  std::string spec, models;
  std::vector<std::string> recs_paths;
  po::options_description opts("demo personalization options");
  opts.add_options()("users", po::value(&sim.users)->default_value(sim.users), "simulated users")(
      "items", po::value(&sim.items)->default_value(sim.items), "items at the start")(
      "days", po::value(&sim.days)->default_value(sim.days), "days simulated")(
      "heldout-days", po::value(&heldout_days)->default_value(heldout_days),
      "the last N days are evaluated (the ones before are the ranker's training days)")(
      "seed", po::value(&sim.seed)->default_value(sim.seed), "simulator seed")(
      "quick",
      "a small simulation for a quick run: 2000 users, 1000 items, 8 days, 2 held out (flags given "
      "explicitly win)")("no-ranker", "popularity baselines only: do not run the ranking spec")(
      "spec", po::value(&spec), "the ranking spec (default: examples/personalization/rank.yaml beside the binary)")(
      "models", po::value(&models), "its model repository (default: examples/personalization/models)")(
      "shards", po::value(&shards)->default_value(shards), "engine shards of the ranking backfill")(
      "ranker-events-max", po::value(&ranker_events_max)->default_value(ranker_events_max),
      "run the ranker only on simulations of at most this many events (its two backfills take about 6 CPU "
      "minutes each per million)")(
      "recs", po::value(&recs_paths)->composing(),
      "also score recorded lists: NDJSON with event_id and recs (a JSON array of item ids in a string), e.g. a "
      "ranker's output stream from `impulse backfill --format ndjson` over this simulation (repeatable)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, kUsage, opts, &vm); rc >= 0) return rc;
  if (vm.count("quick") > 0) {
    if (vm["users"].defaulted()) sim.users = 2000;
    if (vm["items"].defaulted()) sim.items = 1000;
    if (vm["days"].defaulted()) sim.days = 8;
    if (vm["heldout-days"].defaulted()) heldout_days = 2;
  }
  if (sim.days < 2) return UsageError(kUsage, "--days must be at least 2 (some days train, the rest are evaluated)");
  if (heldout_days < 1 || heldout_days >= sim.days) {
    return UsageError(kUsage, "--heldout-days " + std::to_string(heldout_days) + " must be in 1.." +
                                  std::to_string(sim.days - 1) +
                                  " (days - 1: some days train, the rest are evaluated)");
  }
  if (shards < 1 || shards > 256) return UsageError(kUsage, "--shards must be in 1..256");
  const bool ranker = vm.count("no-ranker") == 0;
  for (const char* option : {"spec", "models", "shards", "ranker-events-max"}) {
    if (!ranker && vm.count(option) > 0 && !vm[option].defaulted()) {
      return UsageError(kUsage, std::string("--") + option + " configures the ranker, which --no-ranker does not run");
    }
  }
  if (ranker) {
    for (auto [path, relative] : {std::pair{&spec, "examples/personalization/rank.yaml"},
                                  std::pair{&models, "examples/personalization/models"}}) {
      if (!path->empty()) continue;
      auto found = FindSharedFile(relative);
      if (!found.ok()) {
        std::fprintf(stderr, "impulse: demo personalization: %s (or run with --no-ranker)\n",
                     found.status().ToString().c_str());
        return 2;
      }
      *path = *found;
    }
  }
  // The recorded lists and the spec are read before the simulation, so a bad file fails at once.
  std::vector<personalization::RecordedRecommendations> recorded(recs_paths.size());
  for (size_t i = 0; i < recs_paths.size(); ++i) {
    std::ifstream in(recs_paths[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "impulse: demo personalization: cannot read %s\n", recs_paths[i].c_str());
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    const Status st = personalization::ParseRecordedNdjson(text.str(), sim.start_epoch_day, &recorded[i]);
    if (!st.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s: %s\n", recs_paths[i].c_str(), st.ToString().c_str());
      return 1;
    }
  }
  bool nightly = false;
  if (ranker) {
    auto has = personalization::SpecHasStream(spec, kNightlyStream);
    if (!has.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s: %s\n", spec.c_str(), has.status().ToString().c_str());
      return 1;
    }
    nightly = *has;
  }
  auto simulator = shop::Simulator::Create(sim);
  if (!simulator.ok()) return UsageError(kUsage, simulator.status().message());

  const auto t0 = Clock::now();
  std::vector<shop::Event> events;
  std::vector<shop::Event> day;
  while ((*simulator)->NextDay(&day)) events.insert(events.end(), day.begin(), day.end());
  const double sim_s = SecondsSince(t0);
  Phase("simulated " + std::to_string(events.size()) + " events", sim_s);

  const uint32_t first_heldout = sim.days - heldout_days;
  const int64_t heldout_from_seconds = int64_t{first_heldout} * shop::kSecondsPerDay;
  auto cases = personalization::BuildCases(
      events, {.eval_from_seconds = heldout_from_seconds, .eval_to_seconds = int64_t{sim.days} * shop::kSecondsPerDay});
  if (!cases.ok()) {
    std::fprintf(stderr, "impulse: demo personalization: %s\n", cases.status().ToString().c_str());
    return 1;
  }
  size_t clicks = 0, prediction_events = 0;
  for (size_t i = 0; i < cases->size(); ++i) {
    clicks += (*cases)[i].target == personalization::Target::kNextClick ? 1 : 0;
    prediction_events += i == 0 || (*cases)[i].at != (*cases)[i - 1].at ? 1 : 0;
  }

  // The engine's ranker: rank.yaml over the simulation, by the backfill's code.
  struct RankerRow {
    std::string name;
    std::string stream;
    std::optional<personalization::RankerLists> lists;
    double seconds = 0;
  };
  std::vector<RankerRow> ranked;
  const bool ranker_too_big = ranker && events.size() > ranker_events_max;
  if (ranker_too_big) {
    std::fprintf(stderr,
                 "demo personalization: not running the ranker: %zu events, more than --ranker-events-max %llu (its "
                 "two backfills take about 6 CPU minutes each per million events; raise it to run them)\n",
                 events.size(), static_cast<unsigned long long>(ranker_events_max));
  }
  if (ranker && !ranker_too_big) {
    ranked.push_back({"(a) live event-driven ranker", "recommendations", std::nullopt, 0});
    if (nightly) ranked.push_back({"(b) the ranker on nightly features", kNightlyStream, std::nullopt, 0});
    auto tmp = TempDir::Create();
    if (!tmp.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s\n", tmp.status().ToString().c_str());
      return 1;
    }
    const std::string csv = tmp->path() + "/events.csv";
    const auto t_csv = Clock::now();
    if (Status st = personalization::WriteEventsCsv(events, sim.start_epoch_day, csv); !st.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s\n", st.ToString().c_str());
      return 1;
    }
    Phase("wrote the simulation as CSV for the backfill", SecondsSince(t_csv));
    for (RankerRow& r : ranked) {
      const auto t_rank = Clock::now();
      std::fprintf(stderr, "demo personalization: backfilling %s --stream %s (--models %s, %u shards) ...\n",
                   spec.c_str(), r.stream.c_str(), models.c_str(), shards);
      auto lists =
          personalization::RunRanker({.spec_path = spec,
                                      .models_dir = models,
                                      .input_csv = csv,
                                      .shards = shards,
                                      .start_epoch_day = sim.start_epoch_day,
                                      .keep_from_seconds = heldout_from_seconds},
                                     r.stream, r.stream == kNightlyStream ? "features_as_of" : "event_datetime");
      if (!lists.ok()) {
        std::fprintf(stderr, "impulse: demo personalization: %s --stream %s: %s\n", spec.c_str(), r.stream.c_str(),
                     lists.status().ToString().c_str());
        return 1;
      }
      r.seconds = SecondsSince(t_rank);
      std::string skipped;
      for (const std::string& n : lists->backfill.pipelines_skipped) skipped += (skipped.empty() ? "" : ", ") + n;
      Phase("backfilled " + r.stream + ": " + std::to_string(lists->rows) + " lists, " +
                std::to_string(lists->lists.size()) + " in the held-out days (feed " +
                std::to_string(static_cast<int>(lists->backfill.feed_seconds)) + " s, drain " +
                std::to_string(static_cast<int>(lists->backfill.drain_seconds)) + " s, CPU " +
                std::to_string(static_cast<int>(lists->backfill.cpu_seconds)) +
                " s; pipelines not run: " + (skipped.empty() ? "none" : skipped) + ")",
            r.seconds);
      r.lists = std::move(*lists);
    }
  }

  std::printf("shop simulation: %u users, %u items (+%u a day), %u days from %s, seed %llu: %zu events (%.1f s)\n",
              sim.users, sim.items, sim.new_items_per_day, sim.days, Date(sim.start_epoch_day).c_str(),
              static_cast<unsigned long long>(sim.seed), events.size(), sim_s);
  std::printf(
      "training days %s .. %s; held-out days %s .. %s: %zu next-click and %zu next-purchase cases at %zu "
      "prediction events\n",
      Date(sim.start_epoch_day).c_str(), Date(sim.start_epoch_day + first_heldout - 1).c_str(),
      Date(sim.start_epoch_day + first_heldout).c_str(), Date(sim.start_epoch_day + sim.days - 1).c_str(), clicks,
      cases->size() - clicks, prediction_events);
  std::printf(
      "next click: at every view, the session's next view; next purchase: at a session's first view, each\n"
      "item the session buys (examples/personalization/README.md, \"Evaluation protocol\")\n\n");
  std::printf("%-44s  %-17s   %-17s   %s\n", "", "next click", "next purchase", "data age (min)");
  std::printf("%-44s %8s %8s   %8s %8s   %7s / %7s\n", "recommender", "HR@10", "NDCG@10", "HR@10", "NDCG@10", "p50",
              "p90");
  const auto t_eval = Clock::now();
  // Scores recorded lists and prints their row and what was read.
  auto score_recorded = [&](const std::string& name, personalization::RecordedRecommendations* lists,
                            const std::string& read) -> bool {
    auto result = personalization::Evaluate(events, *cases, lists);
    if (!result.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s: %s\n", name.c_str(), result.status().ToString().c_str());
      return false;
    }
    PrintRow(name, *result);
    std::printf("%-44s %s, %zu at prediction events; %llu cases without a list (misses)\n", "", read.c_str(),
                lists->used(),
                static_cast<unsigned long long>(result->next_click.without_list) +
                    static_cast<unsigned long long>(result->next_purchase.without_list));
    return true;
  };
  for (RankerRow& r : ranked) {
    const std::string read = std::to_string(r.lists->rows) + " lists in " + r.stream + ", " +
                             std::to_string(r.lists->lists.size()) + " held out";
    if (!score_recorded(r.name, &r.lists->lists, read)) return 1;
  }
  const std::string too_big =
      "not run: more events than --ranker-events-max " + std::to_string(ranker_events_max) + " (try --quick)";
  if (!ranker || ranker_too_big) {
    std::printf("%-44s %s\n", "(a) live event-driven ranker", ranker ? too_big.c_str() : "not run (--no-ranker)");
  }
  if (!ranker || !nightly || ranker_too_big) {
    std::printf("%-44s %s\n", "(b) the ranker on nightly features",
                !ranker    ? "not run (--no-ranker)"
                : !nightly ? "not available: the spec has no stream recommendations_nightly"
                           : too_big.c_str());
  }
  struct Baseline {
    const char* name;
    bool per_category;
  };
  for (const Baseline& b : {Baseline{"(c) global popularity (views, 1 d, hourly)", false},
                            Baseline{"(d) category popularity (views, 1 d, hourly)", true}}) {
    auto source = PopularitySource::Create(PopularityOptions{.per_category = b.per_category});
    if (!source.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s\n", source.status().ToString().c_str());
      return 1;
    }
    auto result = personalization::Evaluate(events, *cases, &*source);
    if (!result.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s\n", result.status().ToString().c_str());
      return 1;
    }
    PrintRow(b.name, *result);
  }
  for (size_t i = 0; i < recs_paths.size(); ++i) {
    if (!score_recorded("recorded: " + recs_paths[i], &recorded[i],
                        std::to_string(recorded[i].size()) + " lists read")) {
      return 1;
    }
  }
  Phase("evaluated", SecondsSince(t_eval));
  // The example's model is `ranker` (rank.yaml); another spec may serve another one.
  std::string served = "the model the spec names";
  if (!ranked.empty()) {
    auto version = personalization::ServedVersion(models, "ranker");
    if (version.ok()) served = "ranker version " + std::to_string(*version) + " of " + models;
  }
  std::printf(
      "\n(a): the spec's `recommendations` on every view, features as of the view; (b): its\n"
      "`recommendations_nightly`, the user, user-category and item features as of the previous midnight. The\n"
      "served model: %s (how it was trained: its config.yaml, examples/personalization/README.md).\n"
      "(d): the most viewed items of the prediction event's category. Data age: the event's time minus the time\n"
      "the list's data is as of (the features' as-of time; for (c), (d) the last hourly refresh).\n",
      served.c_str());
  Phase("done", SecondsSince(t_start));
  return 0;
}

}  // namespace impulse::examples
