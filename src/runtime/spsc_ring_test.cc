#include "runtime/spsc_ring.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "runtime/waker.h"

namespace impulse::runtime {
namespace {

TEST(SpscRing, CapacityRoundsUpToPowerOfTwo) {
  SpscRing<int> r(5);
  EXPECT_EQ(r.capacity(), 8u);
}

TEST(SpscRing, FullRingRefusesPushAndKeepsValue) {
  SpscRing<std::unique_ptr<int>> r(2);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  auto c = std::make_unique<int>(3);
  ASSERT_TRUE(r.TryPush(a));
  ASSERT_TRUE(r.TryPush(b));
  EXPECT_EQ(r.FreeSlots(), 0u);
  EXPECT_FALSE(r.TryPush(c));
  ASSERT_NE(c, nullptr);  // not moved from on failure
  EXPECT_EQ(*c, 3);
  std::unique_ptr<int> out;
  ASSERT_TRUE(r.TryPop(&out));
  EXPECT_EQ(*out, 1);
  EXPECT_EQ(r.FreeSlots(), 1u);
  EXPECT_TRUE(r.TryPush(c));
}

TEST(SpscRing, EmptyRingPopsNothing) {
  SpscRing<int> r(4);
  int v = 7;
  EXPECT_TRUE(r.Empty());
  EXPECT_FALSE(r.TryPop(&v));
  EXPECT_EQ(v, 7);
}

TEST(SpscRing, TwoThreadsTransferEveryItemInOrder) {
  constexpr int kItems = 200'000;
  SpscRing<int> r(64);
  Waker waker;
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      int v = i;
      while (!r.TryPush(v)) std::this_thread::yield();
      waker.Signal();
    }
  });
  int expected = 0;
  int v = -1;
  while (expected < kItems) {
    if (r.TryPop(&v)) {
      ASSERT_EQ(v, expected);
      ++expected;
      continue;
    }
    const uint32_t token = waker.PrepareWait();
    if (r.Empty()) waker.Wait(token, 100);
    waker.CancelWait();
  }
  producer.join();
  EXPECT_TRUE(r.Empty());
}

TEST(Waker, SignalBeforeWaitIsNotLost) {
  Waker w;
  const uint32_t token = w.PrepareWait();
  w.Signal();
  // Returns at once because the sequence moved, without entering the futex; a lost signal
  // would sleep (for up to 5 s) and count a wakeup.
  w.Wait(token, 5'000);
  w.CancelWait();
  EXPECT_EQ(w.wakeups(), 0u);
}

}  // namespace
}  // namespace impulse::runtime
