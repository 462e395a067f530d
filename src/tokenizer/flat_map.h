// Open-addressing hash tables for the BPE model's hot lookups (token string -> id, and token pair
// -> merge), flat arrays instead of node-based maps: loading a 128k-token vocabulary with 280k
// merges and encoding both touch these millions of times.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace encore {

// Token string -> id. The strings themselves live in the owner's id -> string table, passed to
// every call, so the index holds only a tag and an id per slot.
class TokenIndex {
  public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < 2 * n) cap <<= 1;
        slots_.assign(cap, 0);
        mask_ = cap - 1;
        size_ = 0;
    }
    // Maps `s` (== strings[id]) to id; a string already present gets the new id.
    void insert(std::string_view s, int32_t id, const std::vector<std::string>& strings) {
        if (2 * (size_ + 1) > slots_.size()) grow(strings);
        uint64_t h = hash(s);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            uint64_t slot = slots_[i];
            if (slot == 0) {
                slots_[i] = pack(h, id);
                ++size_;
                return;
            }
            if (tag(slot) == tag_of(h) && strings[size_t(id_of(slot))] == s) {
                slots_[i] = pack(h, id);
                return;
            }
        }
    }
    // The id of `s`, or -1.
    int32_t find(std::string_view s, const std::vector<std::string>& strings) const {
        if (slots_.empty()) return -1;
        uint64_t h = hash(s);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            uint64_t slot = slots_[i];
            if (slot == 0) return -1;
            if (tag(slot) == tag_of(h) && strings[size_t(id_of(slot))] == s) return id_of(slot);
        }
    }
    size_t size() const { return size_; }
    // Calls fn(id) for every indexed id.
    template <typename F>
    void for_each(F&& fn) const {
        for (uint64_t slot : slots_) {
            if (slot) fn(id_of(slot));
        }
    }

  private:
    static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
    static uint32_t tag_of(uint64_t h) { return uint32_t(h >> 32) | 1u; }  // never 0
    static uint64_t pack(uint64_t h, int32_t id) {
        return (uint64_t(tag_of(h)) << 32) | uint32_t(id);
    }
    static uint32_t tag(uint64_t slot) { return uint32_t(slot >> 32); }
    static int32_t id_of(uint64_t slot) { return int32_t(uint32_t(slot)); }
    void grow(const std::vector<std::string>& strings) {
        std::vector<uint64_t> old = std::move(slots_);
        reserve(old.empty() ? 8 : old.size());
        for (uint64_t slot : old) {
            if (slot) insert(strings[size_t(id_of(slot))], id_of(slot), strings);
        }
    }

    std::vector<uint64_t> slots_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

// 64-bit key -> value, keys never equal to ~0.
template <typename Value>
class PairMap {
  public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < 2 * n) cap <<= 1;
        keys_.assign(cap, k_empty);
        values_.assign(cap, Value{});
        mask_ = cap - 1;
        size_ = 0;
    }
    void insert_or_assign(uint64_t key, const Value& value) {
        if (2 * (size_ + 1) > keys_.size()) grow();
        for (size_t i = index(key);; i = (i + 1) & mask_) {
            if (keys_[i] == k_empty) {
                keys_[i] = key;
                values_[i] = value;
                ++size_;
                return;
            }
            if (keys_[i] == key) {
                values_[i] = value;
                return;
            }
        }
    }
    const Value* find(uint64_t key) const {
        if (keys_.empty()) return nullptr;
        for (size_t i = index(key);; i = (i + 1) & mask_) {
            if (keys_[i] == key) return &values_[i];
            if (keys_[i] == k_empty) return nullptr;
        }
    }
    size_t size() const { return size_; }

  private:
    static constexpr uint64_t k_empty = ~uint64_t(0);
    size_t index(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> 17) & mask_; }
    void grow() {
        std::vector<uint64_t> old_keys = std::move(keys_);
        std::vector<Value> old_values = std::move(values_);
        reserve(old_keys.empty() ? 8 : old_keys.size());
        for (size_t i = 0; i < old_keys.size(); ++i) {
            if (old_keys[i] != k_empty) insert_or_assign(old_keys[i], old_values[i]);
        }
    }

    std::vector<uint64_t> keys_;
    std::vector<Value> values_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

}  // namespace encore
