// Barnes-Hut quadtree over a 2-D float32 embedding (t-SNE, ops/tsne_bh.h).
//
// Square cells (centre cx, cy and half-width hw, in double) built by serial insertion in point
// order, so the tree -- and every sum stored in it -- is a deterministic function of Y. Each cell
// keeps the number of points below it and their centre of mass (double). Leaves hold a linked
// list of points (head `first`, links in `next`):
//  * normally one point (leaf capacity 1);
//  * several *identical* points (same == true): duplicates share a leaf with a count instead of
//    splitting forever;
//  * several distinct points only at kMaxDepth (points closer than side / 2^kMaxDepth): such a
//    leaf is never split further and is visited point by point (same == false).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lf {

struct QuadCell {
  double cx = 0.0, cy = 0.0, hw = 0.0;  // centre and half-width (side = 2 hw)
  double mx = 0.0, my = 0.0;  // sums of the coordinates, then (finalize) the centre of mass
  int64_t count = 0;          // points in the cell
  int64_t first = -1;         // leaves: head of the point list
  int32_t child[4] = {-1, -1, -1, -1};  // quadrant q = (x >= cx) + 2 (y >= cy)
  bool leaf = true;
  bool same = true;  // leaves: all listed points have identical coordinates

  // Closed-box membership (conservative: a point on a shared edge is "in" both cells).
  bool contains(double x, double y) const {
    return x >= cx - hw && x <= cx + hw && y >= cy - hw && y <= cy + hw;
  }
};

class QuadTree {
 public:
  static constexpr int kMaxDepth = 50;

  // Y: n x 2 row-major, finite.
  QuadTree(const float* Y, int64_t n) : Y_(Y), next_(static_cast<size_t>(n), -1) {
    cells_.reserve(static_cast<size_t>(2 * n + 1));
    double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
    if (n > 0) {
      x0 = x1 = Y[0];
      y0 = y1 = Y[1];
    }
    for (int64_t i = 1; i < n; ++i) {
      x0 = std::min<double>(x0, Y[2 * i]);
      x1 = std::max<double>(x1, Y[2 * i]);
      y0 = std::min<double>(y0, Y[2 * i + 1]);
      y1 = std::max<double>(y1, Y[2 * i + 1]);
    }
    double side = std::max(x1 - x0, y1 - y0);
    if (!(side > 0.0)) side = 1.0;  // all points identical (or n <= 1)
    QuadCell root;
    root.cx = 0.5 * (x0 + x1);
    root.cy = 0.5 * (y0 + y1);
    root.hw = 0.5 * side * (1.0 + 1e-9) + 1e-300;  // every point strictly inside, whatever rounding
    cells_.push_back(root);
    for (int64_t i = 0; i < n; ++i) insert(i);
    for (auto& c : cells_) {
      if (c.count > 0) {
        c.mx /= static_cast<double>(c.count);
        c.my /= static_cast<double>(c.count);
      }
    }
  }

  const std::vector<QuadCell>& cells() const { return cells_; }
  const std::vector<int64_t>& next() const { return next_; }

 private:
  int quadrant(const QuadCell& c, double x, double y) const {
    return (x >= c.cx ? 1 : 0) + (y >= c.cy ? 2 : 0);
  }

  int32_t new_child(int32_t parent, int q) {
    QuadCell ch;
    const QuadCell& p = cells_[static_cast<size_t>(parent)];
    ch.hw = 0.5 * p.hw;
    ch.cx = p.cx + ((q & 1) ? ch.hw : -ch.hw);
    ch.cy = p.cy + ((q & 2) ? ch.hw : -ch.hw);
    cells_.push_back(ch);
    const auto id = static_cast<int32_t>(cells_.size() - 1);
    cells_[static_cast<size_t>(parent)].child[q] = id;
    return id;
  }

  void insert(int64_t i) {
    const double x = Y_[2 * i], y = Y_[2 * i + 1];
    int32_t node = 0;
    for (int depth = 0;; ++depth) {
      {
        QuadCell& c = cells_[static_cast<size_t>(node)];
        c.count += 1;
        c.mx += x;
        c.my += y;
        if (c.leaf) {
          if (c.count == 1) {  // empty leaf
            c.first = i;
            c.same = true;
            return;
          }
          const int64_t f = c.first;
          const bool ident = Y_[2 * f] == Y_[2 * i] && Y_[2 * f + 1] == Y_[2 * i + 1];
          if ((c.same && ident) || depth >= kMaxDepth) {
            next_[static_cast<size_t>(i)] = c.first;
            c.first = i;
            c.same = c.same && ident;
            return;
          }
          // Split: the old points (all identical: depth < kMaxDepth) move to one child.
          c.leaf = false;
        }
      }
      QuadCell& c = cells_[static_cast<size_t>(node)];
      if (c.first >= 0) {  // just split: move the old list down
        const int64_t f = c.first;
        const int64_t old_count = c.count - 1;
        const double ox = Y_[2 * f], oy = Y_[2 * f + 1];
        const int q = quadrant(c, ox, oy);
        c.first = -1;
        const int32_t ch = new_child(node, q);  // may reallocate: no reference to c below
        QuadCell& cc = cells_[static_cast<size_t>(ch)];
        cc.count = old_count;
        cc.first = f;
        cc.same = true;
        for (int64_t p = f; p >= 0; p = next_[static_cast<size_t>(p)]) {
          cc.mx += Y_[2 * p];
          cc.my += Y_[2 * p + 1];
        }
      }
      const QuadCell& cn = cells_[static_cast<size_t>(node)];
      const int q = quadrant(cn, x, y);
      int32_t ch = cn.child[q];
      if (ch < 0) ch = new_child(node, q);
      node = ch;
    }
  }

  const float* Y_;
  std::vector<int64_t> next_;
  std::vector<QuadCell> cells_;
};

}  // namespace lf
