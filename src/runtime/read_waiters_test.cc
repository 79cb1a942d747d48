// ReadWaiters (behind Engine::WaitReadable): closing from two threads at once.
#include "runtime/read_waiters.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace impulse::runtime {
namespace {

// Stop and a front end's StopReadWaits may close at the same time. The second Close must not
// return while the first is still answering waiters: its caller (Stop, then the engine's
// destructor) would free what a callback still reads.
TEST(ReadWaiters, ASecondCloseReturnsOnceEveryWaiterIsAnswered) {
  ReadWaiters waiters([](uint32_t, uint32_t) { return uint64_t{0}; }, 4);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> answered{false};
  const int64_t far = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          (std::chrono::steady_clock::now() + std::chrono::hours(1)).time_since_epoch())
                          .count();
  ASSERT_TRUE(waiters
                  .Add(0, {0}, far,
                       [&](bool readable) {
                         EXPECT_FALSE(readable);
                         entered.set_value();
                         released.wait();
                         answered.store(true);
                       })
                  .ok());
  std::thread first([&] { waiters.Close(); });
  entered.get_future().wait();  // the first Close is answering the waiter
  std::atomic<bool> second_returned{false};
  std::thread second([&] {
    waiters.Close();
    second_returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(second_returned.load()) << "Close returned while a waiter was still being answered";
  release.set_value();
  second.join();
  first.join();
  EXPECT_TRUE(answered.load());
  EXPECT_EQ(waiters.Add(0, {0}, far, [](bool) {}).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace impulse::runtime
