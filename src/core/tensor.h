// Tensor views: a typed pointer with a shape, owning nothing. Shapes are written outermost first,
// as in the shape comments throughout encore (`// [n_tokens, n_embd]`); rows are contiguous.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace encore {

struct TensorView {
    const void* data = nullptr;
    DType dtype = DType::f32;
    int n_dims = 0;
    std::array<int64_t, 4> shape{};  // outermost first

    int64_t dim(int i) const { return shape[size_t(i)]; }
    // Products of dimensions; 0 when any dimension is 0 (checked first, so huge dimensions next
    // to an empty one cannot overflow). Readers reject shapes whose product overflows.
    int64_t n_elements() const { return product(0, n_dims); }
    int64_t n_rows() const { return n_dims == 0 ? 1 : product(0, n_dims - 1); }
    int64_t row_elems() const { return n_dims == 0 ? 1 : shape[size_t(n_dims - 1)]; }
    int64_t row_bytes() const { return dtype_row_bytes(dtype, row_elems()); }
    int64_t n_bytes() const {
        int64_t n = 0;
        return __builtin_mul_overflow(n_rows(), row_bytes(), &n) ? INT64_MAX : n;
    }
    const uint8_t* row(int64_t i) const {
        return static_cast<const uint8_t*>(data) + i * row_bytes();
    }
    std::string shape_string() const;

private:
    int64_t product(int begin, int end) const {
        for (int i = begin; i < end; ++i)
            if (shape[size_t(i)] == 0) return 0;
        int64_t n = 1;
        for (int i = begin; i < end; ++i)
            if (__builtin_mul_overflow(n, shape[size_t(i)], &n)) return INT64_MAX;
        return n;
    }
};

TensorView make_view(const void* data, DType dtype, std::initializer_list<int64_t> shape);

}  // namespace encore
