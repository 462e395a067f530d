// Tensor view helpers (see tensor.h).
#include "core/tensor.h"

#include "core/error.h"

namespace encore {

std::string TensorView::shape_string() const {
    std::string s = "[";
    for (int i = 0; i < n_dims; ++i) s += (i ? ", " : "") + std::to_string(shape[size_t(i)]);
    return s + "]";
}

TensorView make_view(const void* data, DType dtype, std::initializer_list<int64_t> shape) {
    ENCORE_ASSERT(shape.size() <= 4);
    TensorView v;
    v.data = data;
    v.dtype = dtype;
    v.n_dims = int(shape.size());
    int i = 0;
    for (int64_t d : shape) v.shape[size_t(i++)] = d;
    return v;
}

}  // namespace encore
