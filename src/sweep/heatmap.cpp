// Drawing of sweep heatmaps (see heatmap.h). One routine draws onto any cairo context; the PNG is
// rendered at twice the layout size for sharp text, the SVG at the layout size.
#include "sweep/heatmap.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"

namespace encore {
namespace {

struct Rgb {
    double r, g, b;
};

Rgb mix(Rgb a, Rgb b, double t) {
    return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

Rgb rgb255(int r, int g, int b) {
    return {r / 255.0, g / 255.0, b / 255.0};
}

// Piecewise-linear ramp through evenly spaced stops, t in [0, 1].
template <size_t N>
Rgb ramp(const std::array<Rgb, N>& stops, double t) {
    t = std::clamp(t, 0.0, 1.0) * double(N - 1);
    size_t k = std::min(size_t(t), N - 2);
    return mix(stops[k], stops[k + 1], t - double(k));
}

// Diverging ramp from the neutral centre outwards (a ColorBrewer RdBu-like palette).
const std::array<Rgb, 5> kBlueSide = {rgb255(247, 247, 247), rgb255(209, 229, 240),
                                      rgb255(146, 197, 222), rgb255(67, 147, 195),
                                      rgb255(33, 102, 172)};
const std::array<Rgb, 5> kRedSide = {rgb255(247, 247, 247), rgb255(253, 219, 199),
                                     rgb255(244, 165, 130), rgb255(214, 96, 77),
                                     rgb255(178, 24, 43)};
// Sequential ramp for distances (dark = small, light = large; viridis-like stops).
const std::array<Rgb, 5> kSequential = {rgb255(68, 1, 84), rgb255(59, 82, 139),
                                        rgb255(33, 145, 140), rgb255(94, 201, 98),
                                        rgb255(253, 231, 37)};

double luminance(Rgb c) {
    return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
}

std::string format_value(double v) {
    if (!std::isfinite(v)) return v > 0 ? "inf" : (v < 0 ? "-inf" : "nan");
    double a = std::fabs(v);
    if (a != 0 && (a >= 1e5 || a < 1e-3)) return fmt::format("{:.2e}", v);
    if (a >= 100) return fmt::format("{:.0f}", v);
    if (a >= 10) return fmt::format("{:.1f}", v);
    if (a >= 1) return fmt::format("{:.2f}", v);
    return fmt::format("{:.3f}", v);
}

std::string format_signed(double v) {
    std::string out = v > 0 ? "+" : "";
    return out += format_value(v);
}

// How the colours of a map are chosen; shared by the cells and the colour bar.
struct ColourScale {
    const Heatmap* map;
    double gain = 0, loss = 0;  // largest improvement and largest worsening (>= 0), metric maps
    double lo = 0, hi = 1;      // value range, distance maps

    explicit ColourScale(const Heatmap& m) : map(&m) {
        if (m.kind == Heatmap::Kind::metric) {
            for (const auto& c : m.cells) {
                double g = goodness(c.delta);
                if (!std::isfinite(g)) continue;
                gain = std::max(gain, g);
                loss = std::max(loss, -g);
            }
        } else {
            bool first = true;
            for (const auto& c : m.cells) {
                if (!std::isfinite(c.value)) continue;
                lo = first ? c.value : std::min(lo, c.value);
                hi = first ? c.value : std::max(hi, c.value);
                first = false;
            }
            if (hi <= lo) hi = lo + 1;
        }
    }
    double goodness(double delta) const { return map->lower_is_better ? -delta : delta; }

    // Position on the colour bar: -1 (worst) .. 0 (baseline) .. +1 (best), metric maps. The square
    // root spreads small deviations so that they stay visible beside a catastrophic plan.
    double position(double delta) const {
        double g = goodness(delta);
        if (std::isnan(g)) return 0;
        if (g >= 0) return gain > 0 ? std::sqrt(std::min(g / gain, 1.0)) : 0;
        return loss > 0 ? -std::sqrt(std::min(-g / loss, 1.0)) : 0;
    }
    // The delta at a colour-bar position (inverse of position()).
    double delta_at(double p) const {
        double g = p >= 0 ? p * p * gain : -p * p * loss;
        return map->lower_is_better ? -g : g;
    }
    Rgb colour_at(double p) const { return p >= 0 ? ramp(kBlueSide, p) : ramp(kRedSide, -p); }
    Rgb cell_colour(const HeatmapCell& c) const {
        if (map->kind == Heatmap::Kind::distance)
            return ramp(kSequential, (c.value - lo) / (hi - lo));
        Rgb col = colour_at(position(c.delta));
        return c.ci_contains_zero ? mix(col, {0.86, 0.86, 0.86}, 0.55) : col;
    }
};

struct Layout {
    double cell = 40, left = 78, top = 74, grid_w = 0, grid_h = 0;
    double bar_x = 0, bar_w = 20, width = 0, height = 0;
    int tick_step = 1;

    explicit Layout(const Heatmap& m) {
        int n = std::max(m.n_layers, 1);
        cell = std::clamp(600.0 / n, 12.0, 52.0);
        grid_w = grid_h = cell * n;
        tick_step = cell >= 18 ? 1 : (cell >= 9 ? 2 : 5);
        bar_x = left + grid_w + 34;
        width = bar_x + bar_w + 150;
        height = top + grid_h + 62 + (m.kind == Heatmap::Kind::metric ? 54 : 36);
    }
    double cell_x(int j) const { return left + (j - 1) * cell; }
    double cell_y(int i) const { return top + i * cell; }
};

void set(cairo_t* cr, Rgb c, double alpha = 1) {
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

void text_at(cairo_t* cr, const std::string& s, double x, double y, double size, double align_x,
             double align_y, bool bold = false) {
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    cairo_move_to(cr, x - e.x_bearing - e.width * align_x, y - e.y_bearing - e.height * align_y);
    cairo_show_text(cr, s.c_str());
}

double text_width(cairo_t* cr, const std::string& s, double size) {
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    return e.x_advance;
}

void hatch(cairo_t* cr, double x, double y, double w, double h) {
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 0.35, 0.35, 0.35, 0.55);
    cairo_set_line_width(cr, 1);
    double step = 6;
    for (double d = -h; d < w; d += step) {
        cairo_move_to(cr, x + d, y + h);
        cairo_line_to(cr, x + d + h, y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

void draw(cairo_t* cr, const Heatmap& m) {
    const Layout L(m);
    const ColourScale scale(m);
    const int n = m.n_layers;
    const Rgb ink{0.1, 0.1, 0.1};
    const bool metric = m.kind == Heatmap::Kind::metric;
    const auto best = metric ? best_cell(m) : std::nullopt;

    set(cr, {1, 1, 1});
    cairo_paint(cr);

    // Title and subtitle.
    set(cr, ink);
    text_at(cr, m.title, L.left, 12, 17, 0, 0, true);
    std::string sub = metric
                          ? fmt::format(
                                "{} is better; baseline {}; blue = better than the "
                                "baseline, red = worse",
                                m.lower_is_better ? "lower" : "higher", format_value(m.baseline))
                          : std::string("dark = the stream changes little between layers i and j");
    text_at(cr, sub, L.left, 36, 11.5, 0, 0);

    // The lower triangle (i >= j) holds no plan.
    cairo_set_source_rgb(cr, 0.96, 0.96, 0.96);
    for (int i = 0; i < n; ++i)
        for (int j = 1; j <= i; ++j) cairo_rectangle(cr, L.cell_x(j), L.cell_y(i), L.cell, L.cell);
    cairo_fill(cr);

    // Cells.
    const double font = std::clamp(L.cell * 0.27, 7.0, 12.0);
    for (const auto& c : m.cells) {
        if (c.i < 0 || c.j > n || c.i >= c.j) continue;
        double x = L.cell_x(c.j), y = L.cell_y(c.i);
        Rgb col = scale.cell_colour(c);
        set(cr, col);
        cairo_rectangle(cr, x, y, L.cell, L.cell);
        cairo_fill(cr);
        if (metric && c.ci_contains_zero) hatch(cr, x, y, L.cell, L.cell);
        std::string label = format_value(c.value);
        if (L.cell >= 26 && text_width(cr, label, font) <= L.cell - 4) {
            set(cr, luminance(col) < 0.45 ? Rgb{1, 1, 1} : ink);
            text_at(cr, label, x + L.cell / 2, y + L.cell / 2, font, 0.5, 0.5);
        }
    }
    // Thin grid lines between cells.
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_set_line_width(cr, L.cell >= 20 ? 1 : 0.5);
    for (int k = 0; k <= n; ++k) {
        cairo_move_to(cr, L.left + k * L.cell, L.top);
        cairo_line_to(cr, L.left + k * L.cell, L.top + L.grid_h);
        cairo_move_to(cr, L.left, L.top + k * L.cell);
        cairo_line_to(cr, L.left + L.grid_w, L.top + k * L.cell);
    }
    cairo_stroke(cr);
    if (best) {
        set(cr, ink);
        cairo_set_line_width(cr, 3);
        cairo_rectangle(cr, L.cell_x(best->j) + 1.5, L.cell_y(best->i) + 1.5, L.cell - 3,
                        L.cell - 3);
        cairo_stroke(cr);
    }
    set(cr, ink);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, L.left, L.top, L.grid_w, L.grid_h);
    cairo_stroke(cr);

    // Axes: ticks at cell centres.
    for (int j = 1; j <= n; ++j) {
        if (j % L.tick_step != 0 && j != 1 && j != n) continue;
        text_at(cr, std::to_string(j), L.cell_x(j) + L.cell / 2, L.top + L.grid_h + 5, 10.5, 0.5,
                0);
    }
    for (int i = 0; i < n; ++i) {
        if (i % L.tick_step != 0 && i != n - 1) continue;
        text_at(cr, std::to_string(i), L.left - 6, L.cell_y(i) + L.cell / 2, 10.5, 1, 0.5);
    }
    text_at(cr, "j: end of the repeated block (layers 0..j-1 run, then i..N-1)",
            L.left + L.grid_w / 2, L.top + L.grid_h + 22, 11.5, 0.5, 0);
    cairo_save(cr);
    cairo_translate(cr, L.left - 34, L.top + L.grid_h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, "i: start of the repeated block", 0, 0, 11.5, 0.5, 0.5);
    cairo_restore(cr);

    // Colour bar: top = best (metric) or largest (distance).
    const double bar_top = L.top, bar_h = L.grid_h;
    const int steps = 120;
    for (int s = 0; s < steps; ++s) {
        double t = 1.0 - (s + 0.5) / steps;  // 1 at the top
        Rgb col = metric ? scale.colour_at(2 * t - 1) : ramp(kSequential, t);
        set(cr, col);
        cairo_rectangle(cr, L.bar_x, bar_top + s * bar_h / steps, L.bar_w, bar_h / steps + 0.6);
        cairo_fill(cr);
    }
    set(cr, ink);
    cairo_rectangle(cr, L.bar_x, bar_top, L.bar_w, bar_h);
    cairo_stroke(cr);
    auto bar_tick = [&](double t, const std::string& label) {  // t: 1 top .. 0 bottom
        double y = bar_top + (1 - t) * bar_h;
        cairo_move_to(cr, L.bar_x + L.bar_w, y);
        cairo_line_to(cr, L.bar_x + L.bar_w + 4, y);
        cairo_stroke(cr);
        text_at(cr, label, L.bar_x + L.bar_w + 7, y, 10, 0, 0.5);
    };
    if (metric) {
        for (double p : {1.0, 0.5, 0.0, -0.5, -1.0}) {
            double d = scale.delta_at(p);
            // A side no plan reaches gets one label saying so, not repeated baseline values.
            if ((p > 0 && scale.gain == 0) || (p < 0 && scale.loss == 0)) {
                if (p == 1.0 || p == -1.0)
                    bar_tick((p + 1) / 2, p > 0 ? "no plan better" : "no plan worse");
                continue;
            }
            std::string label =
                p == 0 ? fmt::format("{} (baseline)", format_value(m.baseline))
                       : fmt::format("{} ({})", format_value(m.baseline + d), format_signed(d));
            bar_tick((p + 1) / 2, label);
        }
        text_at(cr, "better", L.bar_x + L.bar_w / 2, bar_top - 4, 10, 0.5, 1, true);
        text_at(cr, "worse", L.bar_x + L.bar_w / 2, bar_top + bar_h + 4, 10, 0.5, 0, true);
    } else {
        for (double t : {1.0, 0.75, 0.5, 0.25, 0.0})
            bar_tick(t, format_value(scale.lo + t * (scale.hi - scale.lo)));
    }
    cairo_save(cr);
    cairo_translate(cr, L.bar_x - 8, bar_top + bar_h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, m.value_label, 0, 0, 10.5, 0.5, 0.5);
    cairo_restore(cr);

    // Legend.
    double ly = L.top + L.grid_h + 44;
    if (metric) {
        double sw = 16;
        set(cr, mix(scale.colour_at(0.6), {0.86, 0.86, 0.86}, 0.55));
        cairo_rectangle(cr, L.left, ly, sw, sw);
        cairo_fill(cr);
        hatch(cr, L.left, ly, sw, sw);
        set(cr, ink);
        text_at(cr,
                "hatched, pale: the 95% bootstrap interval of the delta contains 0 (not "
                "significant)",
                L.left + sw + 6, ly + sw / 2, 10.5, 0, 0.5);
        ly += sw + 8;
        cairo_set_line_width(cr, 2.5);
        cairo_rectangle(cr, L.left + 1.25, ly + 1.25, sw - 2.5, sw - 2.5);
        cairo_stroke(cr);
        std::string b =
            best ? fmt::format("outlined: the best plan, rys:{},{} = {} ({})", best->i, best->j,
                               format_value(best->value), format_signed(best->delta))
                 : "outlined: the best plan";
        text_at(cr, b, L.left + sw + 6, ly + sw / 2, 10.5, 0, 0.5);
    } else {
        text_at(cr,
                "angular distance arccos(cos)/pi between the residual streams entering layers i "
                "and j, mean over tokens",
                L.left, ly, 10.5, 0, 0);
    }
}

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t status, const char* what) {
    if (status != CAIRO_STATUS_SUCCESS)
        fail(ErrorKind::internal, "cairo failed while {}: {}", what,
             cairo_status_to_string(status));
}

}  // namespace

std::optional<HeatmapCell> best_cell(const Heatmap& map) {
    std::optional<HeatmapCell> best;
    for (const auto& c : map.cells) {
        if (!std::isfinite(c.value)) continue;
        if (!best || (map.lower_is_better ? c.value < best->value : c.value > best->value))
            best = c;
    }
    return best;
}

Point heatmap_cell_centre(const Heatmap& map, int i, int j) {
    const Layout L(map);
    return {L.cell_x(j) + L.cell / 2, L.cell_y(i) + L.cell / 2};
}

std::string render_heatmap_png(const Heatmap& map) {
    const Layout L(map);
    const double scale = kHeatmapPngScale;
    cairo_surface_t* surface = cairo_image_surface_create(
        CAIRO_FORMAT_RGB24, int(std::ceil(L.width * scale)), int(std::ceil(L.height * scale)));
    cairo_t* cr = cairo_create(surface);
    cairo_scale(cr, scale, scale);
    draw(cr, map);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    std::string out;
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_write_to_png_stream(surface, append, &out);
    cairo_surface_destroy(surface);
    check(st, "drawing a PNG heatmap");
    return out;
}

std::string render_heatmap_svg(const Heatmap& map) {
    const Layout L(map);
    std::string out;
    cairo_surface_t* surface = cairo_svg_surface_create_for_stream(append, &out, L.width, L.height);
    cairo_t* cr = cairo_create(surface);
    draw(cr, map);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    check(st, "drawing an SVG heatmap");
    return out;
}

}  // namespace encore
