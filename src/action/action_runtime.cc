// The ActionRuntime: one io_context run by N threads, shared by every executor it creates.
// Also the retry helpers of internal.h.
#include <utility>  // before Asio with g++ 12 / C++20

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <ctime>
#include <string>

#include "action/internal.h"

namespace impulse::action {

std::shared_ptr<RuntimeInternals> RuntimeInternals::Make(Clock* clock, uint64_t seed) {
  return std::shared_ptr<RuntimeInternals>(new RuntimeInternals(clock, seed));
}

RuntimeInternals::RuntimeInternals(Clock* clock, uint64_t seed)
    : clock_(clock != nullptr ? clock : Clock::Real()),
      io_(std::make_unique<boost::asio::io_context>()),
      rng_(seed != 0 ? seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

RuntimeInternals::~RuntimeInternals() { Stop(); }

void RuntimeInternals::Start(uint32_t threads) {
  std::lock_guard<std::mutex> lock(mu_);
  IMPULSE_CHECK(threads_.empty() && !stopped_);
  work_.emplace(io_->get_executor());
  for (uint32_t i = 0; i < threads; ++i) {
    threads_.emplace_back([io = io_.get()] { io->run(); });
  }
}

bool RuntimeInternals::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return false;
  boost::asio::post(*io_, std::move(fn));
  return true;
}

uint64_t RuntimeInternals::RandomUpTo(uint64_t bound) {
  std::lock_guard<std::mutex> lock(rng_mu_);
  return std::uniform_int_distribution<uint64_t>(0, bound)(rng_);
}

bool RuntimeInternals::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

uint64_t RuntimeInternals::AddStopHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return 0;
  uint64_t id = next_hook_id_++;
  hooks_.emplace(id, std::move(hook));
  return id;
}

void RuntimeInternals::RemoveStopHook(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.erase(id);
}

void RuntimeInternals::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  std::map<uint64_t, std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ && io_ == nullptr) return;
    stopped_ = true;
    hooks.swap(hooks_);
  }
  // Outside mu_: a hook calls `done` callbacks, which may Submit (refused now) or read stats.
  for (auto& [id, hook] : hooks) hook();
  work_.reset();
  if (io_ != nullptr) io_->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Destroys the handlers never run (and the sockets and timers they own).
  std::unique_ptr<boost::asio::io_context> io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    io.swap(io_);
  }
  io.reset();
}

int64_t FullJitterBackoffMs(RuntimeInternals& rt, int retry, int64_t initial_ms, int64_t max_ms) {
  if (initial_ms <= 0 || max_ms <= 0) return 0;
  int64_t cap = initial_ms;
  for (int i = 1; i < retry && cap < max_ms; ++i) cap *= 2;
  cap = std::min(cap, max_ms);
  return static_cast<int64_t>(rt.RandomUpTo(static_cast<uint64_t>(cap)));
}

namespace {

int MonthIndex(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string lower;
  for (char c : m) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (int i = 0; i < 12; ++i) {
    if (lower == kMonths[i]) return i;
  }
  return -1;
}

// Splits on spaces, commas, ':' and '-' (covers the three HTTP date forms).
std::vector<std::string_view> Tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size() && out.size() < 16) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == ':' || s[i] == '-')) ++i;
    size_t start = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == ',' || s[i] == ':' || s[i] == '-')) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<int64_t> ToInt(std::string_view s, int64_t max) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

}  // namespace

std::optional<int64_t> ParseRetryAfterMs(std::string_view value, int64_t now_ms) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (auto secs = ToInt(value, int64_t{1} << 31)) return *secs * 1000;
  // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"; RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT";
  // asctime "Sun Nov  6 08:49:37 1994".
  auto t = Tokens(value);
  std::optional<int64_t> day, year, hh, mm, ss;
  int month = -1;
  if (t.size() >= 8 && MonthIndex(t[2]) >= 0) {  // IMF-fixdate or RFC 850
    day = ToInt(t[1], 31);
    month = MonthIndex(t[2]);
    year = ToInt(t[3], 9999);
    hh = ToInt(t[4], 23);
    mm = ToInt(t[5], 59);
    ss = ToInt(t[6], 60);
    if (year && *year < 100) *year += *year < 70 ? 2000 : 1900;
  } else if (t.size() >= 7 && MonthIndex(t[1]) >= 0) {  // asctime
    month = MonthIndex(t[1]);
    day = ToInt(t[2], 31);
    hh = ToInt(t[3], 23);
    mm = ToInt(t[4], 59);
    ss = ToInt(t[5], 60);
    year = ToInt(t[6], 9999);
  }
  if (month < 0 || !day || !year || !hh || !mm || !ss || *year < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*year - 1900);
  tm.tm_mon = month;
  tm.tm_mday = static_cast<int>(*day);
  tm.tm_hour = static_cast<int>(*hh);
  tm.tm_min = static_cast<int>(*mm);
  tm.tm_sec = static_cast<int>(*ss);
  int64_t at_ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  return std::max<int64_t>(0, at_ms - now_ms);
}

namespace {

// Contract in action.h: the executors share this runtime's I/O threads; Stop() is idempotent.
class ActionRuntimeImpl final : public ActionRuntime {
 public:
  explicit ActionRuntimeImpl(std::shared_ptr<RuntimeInternals> internals) : internals_(std::move(internals)) {}
  ~ActionRuntimeImpl() override { internals_->Stop(); }

  void Stop() override { internals_->Stop(); }

  Result<std::unique_ptr<Executor>> NewWebhook(const WebhookOptions& options) override {
    if (internals_->stopped()) return FailedPrecondition("action runtime stopped");
    return NewWebhookExecutor(*internals_, options);
  }

  Result<std::unique_ptr<Executor>> NewAgent(const AgentOptions& options) override {
    if (internals_->stopped()) return FailedPrecondition("action runtime stopped");
    return NewAgentExecutor(*internals_, options);
  }

 private:
  std::shared_ptr<RuntimeInternals> internals_;
};

}  // namespace

Result<std::unique_ptr<ActionRuntime>> ActionRuntime::Create(uint32_t threads, Clock* clock) {
  if (threads == 0 || threads > 64) return InvalidArgument("action runtime threads must be in [1, 64]");
  auto internals = RuntimeInternals::Make(clock, /*seed=*/0);
  internals->Start(threads);
  return std::unique_ptr<ActionRuntime>(new ActionRuntimeImpl(std::move(internals)));
}

}  // namespace impulse::action
