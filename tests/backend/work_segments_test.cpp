// WorkSegments: each item of a call is taken exactly once; a thread takes its own segment in
// order from the front, then steals the others' items from their back.
#include "backend/cpu/work_segments.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace encore::cpu {
namespace {

TEST(WorkSegments, OneThreadTakesAllItemsInOrder) {
    WorkSegments segments;
    segments.reset(7, 1);
    for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(segments.take(0), i);
    EXPECT_EQ(segments.take(0), -1);
}

TEST(WorkSegments, OwnSegmentFromTheFrontThenOthersFromTheBack) {
    WorkSegments segments;
    segments.reset(10, 2);  // thread 0: [0, 5), thread 1: [5, 10)
    EXPECT_EQ(segments.take(0), 0);
    EXPECT_EQ(segments.take(0), 1);
    for (int64_t i = 5; i < 10; ++i) EXPECT_EQ(segments.take(1), i);
    EXPECT_EQ(segments.take(1), 4);  // stolen from the back of thread 0's segment
    EXPECT_EQ(segments.take(1), 3);
    EXPECT_EQ(segments.take(0), 2);
    EXPECT_EQ(segments.take(0), -1);
    EXPECT_EQ(segments.take(1), -1);
}

TEST(WorkSegments, FewerItemsThanThreads) {
    WorkSegments segments;
    segments.reset(2, 4);
    std::vector<int64_t> got;
    for (int t = 0; t < 4; ++t)
        for (int64_t item; (item = segments.take(t)) >= 0;) got.push_back(item);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int64_t>{0, 1}));
}

// Reused across calls, with more threads than before, and taken concurrently: every item once.
TEST(WorkSegments, ConcurrentTakersGetEveryItemOnce) {
    WorkSegments segments;
    segments.reset(3, 2);
    const int n_threads = 4;
    const int64_t n_items = 200000;
    segments.reset(n_items, n_threads);
    std::vector<std::vector<int64_t>> taken(n_threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < n_threads; ++t)
        threads.emplace_back([&, t] {
            for (int64_t item; (item = segments.take(t)) >= 0;) taken[size_t(t)].push_back(item);
        });
    for (auto& th : threads) th.join();
    std::vector<int> count(size_t(n_items), 0);
    for (const auto& items : taken)
        for (int64_t item : items) ++count[size_t(item)];
    for (int64_t i = 0; i < n_items; ++i) ASSERT_EQ(count[size_t(i)], 1) << i;
}

}  // namespace
}  // namespace encore::cpu
