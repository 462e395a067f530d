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
    int64_t n_elements() const {
        int64_t n = 1;
        for (int i = 0; i < n_dims; ++i) n *= shape[size_t(i)];
        return n;
    }
    int64_t n_rows() const {
        if (n_dims == 0) return 1;
        int64_t rows = 1;
        for (int i = 0; i + 1 < n_dims; ++i) rows *= shape[size_t(i)];
        return rows;
    }
    int64_t row_elems() const { return n_dims == 0 ? 1 : shape[size_t(n_dims - 1)]; }
    int64_t row_bytes() const { return dtype_row_bytes(dtype, row_elems()); }
    int64_t n_bytes() const { return n_rows() * row_bytes(); }
    const uint8_t* row(int64_t i) const {
        return static_cast<const uint8_t*>(data) + i * row_bytes();
    }
    std::string shape_string() const;
};

TensorView make_view(const void* data, DType dtype, std::initializer_list<int64_t> shape);

}  // namespace encore
