// StateTable::BeginCapture: the incremental snapshot holds exactly the content at BeginCapture,
// whatever the owner does meanwhile (changes through Find/FindOrInsert, erases that shift
// entries back, growth that rehashes, ForEach), and restores like a Checkpoint.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <string>

#include "state/state_table.h"
#include "state/state_table_test_util.h"

namespace impulse::state::test {
namespace {

using StateCaptureTest = StateTableTest;
using SteadyClock = std::chrono::steady_clock;

// Writes every queued byte of `files` until they are complete, as the checkpoint writer does.
void WriteAll(const AsyncFiles& files, bool* all_done) {
  *all_done = true;
  for (const auto& f : files) {
    auto done = f->WriteQueued(Env::Default());
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    *all_done = *all_done && *done;
  }
}

// A slice that serializes a few entries at most (the deadline has passed: one check per 64).
SteadyClock::time_point Past() { return SteadyClock::now() - std::chrono::seconds(1); }

TEST_P(StateCaptureTest, CaptureHoldsTheContentAtBeginWhateverTheOwnerDoesMeanwhile) {
  auto t = MustOpen(Options(/*cache_entries_max=*/64));
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 2000);
  const std::map<std::string, Agg> at_begin = Content(t.get());
  AsyncFiles files;
  ASSERT_TRUE(t->BeginCapture(Dir("cap"), &files).ok());

  std::mt19937 rng(7);
  int next = 2000;
  int rounds = 0;
  while (t->capturing() || rounds < 50) {
    ++rounds;
    for (int k = 0; k < 40; ++k) {
      const int i = static_cast<int>(rng() % 2600);
      switch (rng() % 4) {
        case 0: {  // change through Find
          auto v = t->Find(Key(i));
          ASSERT_TRUE(v.ok());
          if (*v != nullptr) (*v)->count += 1000, (*v)->last.append("x");
          break;
        }
        case 1: {  // change or insert through FindOrInsert (inserts grow the table)
          auto v = t->FindOrInsert(Key(next++));
          ASSERT_TRUE(v.ok());
          (*v)->count = -1;
          break;
        }
        case 2:  // erase: backward shifts move later entries
          ASSERT_TRUE(t->Erase(Key(i)).ok());
          break;
        default:
          if (k == 0) {  // a sweep visiting every entry
            ASSERT_TRUE(t->ForEach([](std::string_view, Agg& a) {
                           a.sum += 1;
                           return Status::OK();
                         }).ok());
          }
      }
    }
    t->CaptureStep(Past());
    bool done = false;
    WriteAll(files, &done);
  }
  EXPECT_GT(rounds, 3);  // the capture did overlap the owner's work
  bool done = false;
  WriteAll(files, &done);
  EXPECT_TRUE(done);
  const std::map<std::string, Agg> live = Content(t.get());
  EXPECT_NE(live, at_begin);

  auto restored = MustOpen(Options());
  ASSERT_NE(restored, nullptr);
  ASSERT_TRUE(restored->Restore(Dir("cap")).ok());
  EXPECT_EQ(Content(restored.get()), at_begin);
  // The owner's table kept its own content.
  EXPECT_EQ(Content(t.get()), live);
}

TEST_P(StateCaptureTest, CaptureWritesTheSameFileAsCheckpoint) {
  auto t = MustOpen(Options());
  ASSERT_NE(t, nullptr);
  Fill(t.get(), 0, 500);
  ASSERT_TRUE(t->Checkpoint(Dir("sync")).ok());
  AsyncFiles files;
  ASSERT_TRUE(t->BeginCapture(Dir("async"), &files).ok());
  while (!t->CaptureStep(SteadyClock::now() + std::chrono::milliseconds(10))) {
  }
  bool done = false;
  WriteAll(files, &done);
  EXPECT_TRUE(done);
  auto a = MustOpen(Options());
  auto b = MustOpen(Options());
  ASSERT_TRUE(a->Restore(Dir("sync")).ok());
  ASSERT_TRUE(b->Restore(Dir("async")).ok());
  EXPECT_EQ(Content(a.get()), Content(b.get()));
  EXPECT_EQ(Content(a.get()).size(), 500u);
}

TEST_P(StateCaptureTest, EmptyTableCaptureCompletesAtOnce) {
  auto t = MustOpen(Options());
  AsyncFiles files;
  ASSERT_TRUE(t->BeginCapture(Dir("empty"), &files).ok());
  EXPECT_FALSE(t->capturing());
  bool done = false;
  WriteAll(files, &done);
  EXPECT_TRUE(done);
  auto r = MustOpen(Options());
  ASSERT_TRUE(r->Restore(Dir("empty")).ok());
  EXPECT_EQ(r->size(), 0u);
}

TEST_P(StateCaptureTest, AbandonedCaptureThenANewOneIsExact) {
  auto t = MustOpen(Options());
  Fill(t.get(), 0, 1000);
  AsyncFiles first;
  ASSERT_TRUE(t->BeginCapture(Dir("first"), &first).ok());
  t->CaptureStep(Past());  // a few entries captured
  for (int i = 0; i < 300; ++i) (**t->Find(Key(i))).count = 42;
  for (const auto& f : first) f->Cancel();  // the checkpoint was abandoned
  t->CaptureStep(Past());
  Fill(t.get(), 1000, 1100);
  const auto at_second = Content(t.get());
  AsyncFiles second;
  ASSERT_TRUE(t->BeginCapture(Dir("second"), &second).ok());
  for (int i = 0; i < 1100; i += 3) (**t->Find(Key(i))).count = 7;  // after: not in the snapshot
  while (!t->CaptureStep(SteadyClock::now() + std::chrono::milliseconds(10))) {
  }
  bool done = false;
  WriteAll(second, &done);
  EXPECT_TRUE(done);
  auto r = MustOpen(Options());
  ASSERT_TRUE(r->Restore(Dir("second")).ok());
  EXPECT_EQ(Content(r.get()), at_second);
}

TEST_P(StateCaptureTest, AReadOnlyWalkLeavesTheCaptureToTheSlices) {
  auto t = MustOpen(Options());
  Fill(t.get(), 0, 300);
  const auto at_begin = Content(t.get());
  AsyncFiles files;
  ASSERT_TRUE(t->BeginCapture(Dir("read"), &files).ok());
  size_t seen = 0;
  ASSERT_TRUE(t->ForEachRead([&](std::string_view, const Agg&) {
                 ++seen;
                 return Status::OK();
               }).ok());
  EXPECT_EQ(seen, 300u);
  // Memory: nothing was serialized by the walk, the capture still has every entry to do.
  if (GetParam() == Backend::kMemory) {
    EXPECT_TRUE(t->capturing());
  }
  for (int i = 0; i < 300; i += 2) (**t->Find(Key(i))).count = -5;
  while (!t->CaptureStep(SteadyClock::now() + std::chrono::milliseconds(10))) {
  }
  bool done = false;
  WriteAll(files, &done);
  EXPECT_TRUE(done);
  auto r = MustOpen(Options());
  ASSERT_TRUE(r->Restore(Dir("read")).ok());
  EXPECT_EQ(Content(r.get()), at_begin);
}

INSTANTIATE_TEST_SUITE_P(Backends, StateCaptureTest, ::testing::Values(Backend::kMemory, Backend::kRocksDb),
                         BackendName);

}  // namespace
}  // namespace impulse::state::test
