// `impulse demo personalization`: simulates the shop in process, builds the held-out cases and
// scores each recommendation source on them (evaluation.h).
//
// Not yet here (issue 18): (a) the live event-driven ranker and (b) the same model on nightly
// features. Both need the engine's `rank` step (being built); their output streams will plug
// in as RecordedRecommendations, and their throughput and latency will be measured here.
#include "examples/personalization/demo/demo.h"

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/command_line.h"
#include "datagen/common/text_format.h"
#include "examples/personalization/demo/evaluation.h"

namespace impulse::examples {
namespace {

namespace po = boost::program_options;
using personalization::Case;
using personalization::Evaluation;
using personalization::PopularityOptions;
using personalization::PopularitySource;

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
  shop::SimulatorOptions sim;
  uint32_t heldout_days = 7;
  std::vector<std::string> recs_paths;
  po::options_description opts("demo personalization options");
  opts.add_options()("users", po::value(&sim.users)->default_value(sim.users), "simulated users")(
      "items", po::value(&sim.items)->default_value(sim.items), "items at the start")(
      "days", po::value(&sim.days)->default_value(sim.days), "days simulated")(
      "heldout-days", po::value(&heldout_days)->default_value(heldout_days),
      "the last N days are evaluated (the ones before are the ranker's training days)")(
      "seed", po::value(&sim.seed)->default_value(sim.seed), "simulator seed")(
      "recs", po::value(&recs_paths)->composing(),
      "also score recorded lists: NDJSON with event_id and recs (a JSON array of item ids in a string), e.g. a "
      "ranker's output stream from `impulse backfill --format ndjson` over this simulation (repeatable)");
  po::variables_map vm;
  if (int rc = ParseCommandLine(args, "impulse demo personalization [options]", opts, &vm); rc >= 0) return rc;
  if (heldout_days < 1 || heldout_days >= sim.days) {
    return UsageError("impulse demo personalization [options]",
                      "--heldout-days must be in 1..days - 1 (some days train, the rest are evaluated)");
  }
  // The recorded lists are read before the simulation, so a bad file fails at once.
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
  auto simulator = shop::Simulator::Create(sim);
  if (!simulator.ok()) return UsageError("impulse demo personalization [options]", simulator.status().message());

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<shop::Event> events;
  std::vector<shop::Event> day;
  while ((*simulator)->NextDay(&day)) events.insert(events.end(), day.begin(), day.end());
  const double sim_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const uint32_t first_heldout = sim.days - heldout_days;
  auto cases = personalization::BuildCases(events, {.eval_from_seconds = int64_t{first_heldout} * shop::kSecondsPerDay,
                                                    .eval_to_seconds = int64_t{sim.days} * shop::kSecondsPerDay});
  if (!cases.ok()) {
    std::fprintf(stderr, "impulse: demo personalization: %s\n", cases.status().ToString().c_str());
    return 1;
  }
  size_t clicks = 0;
  for (const Case& c : *cases) clicks += c.target == personalization::Target::kNextClick ? 1 : 0;
  std::printf("shop simulation: %u users, %u items (+%u a day), %u days from %s, seed %llu: %zu events (%.1f s)\n",
              sim.users, sim.items, sim.new_items_per_day, sim.days, Date(sim.start_epoch_day).c_str(),
              static_cast<unsigned long long>(sim.seed), events.size(), sim_s);
  std::printf("training days %s .. %s; held-out days %s .. %s: %zu next-click and %zu next-purchase cases\n",
              Date(sim.start_epoch_day).c_str(), Date(sim.start_epoch_day + first_heldout - 1).c_str(),
              Date(sim.start_epoch_day + first_heldout).c_str(), Date(sim.start_epoch_day + sim.days - 1).c_str(),
              clicks, cases->size() - clicks);
  std::printf(
      "next click: at every view, the session's next view; next purchase: at a session's first view, each\n"
      "item the session buys (examples/personalization/README.md, \"Evaluation protocol\")\n\n");
  std::printf("%-44s  %-17s   %-17s   %s\n", "", "next click", "next purchase", "data age (min)");
  std::printf("%-44s %8s %8s   %8s %8s   %7s / %7s\n", "recommender", "HR@10", "NDCG@10", "HR@10", "NDCG@10", "p50",
              "p90");
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
    auto result = personalization::Evaluate(events, *cases, &recorded[i]);
    if (!result.ok()) {
      std::fprintf(stderr, "impulse: demo personalization: %s: %s\n", recs_paths[i].c_str(),
                   result.status().ToString().c_str());
      return 1;
    }
    PrintRow("recorded: " + recs_paths[i], *result);
    std::printf("%-44s %zu lists read, %zu at prediction events; %llu cases without a list (misses)\n", "",
                recorded[i].size(), recorded[i].used(),
                static_cast<unsigned long long>(result->next_click.without_list) +
                    static_cast<unsigned long long>(result->next_purchase.without_list));
  }
  std::printf("%-44s %s\n", "(a) live event-driven ranker", "not yet: waits on the engine's rank step");
  std::printf("%-44s %s\n", "(b) the ranker on nightly features", "not yet: waits on the engine's rank step");
  std::printf(
      "\n(d): the most viewed items of the prediction event's category. Data age: the event's time minus\n"
      "the time the list's counts are as of (the last hourly refresh).\n");
  return 0;
}

}  // namespace impulse::examples
