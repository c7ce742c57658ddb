// The k largest similarities of each row of S [m, n] (gallery search: rows are
// queries, columns gallery faces, S = Q G^T of unit vectors), returned as
// Euclidean distances sqrt(max(0, 2 - 2 s)) ascending, with their column
// index + `offset` (the chunk's first gallery row). Ties go to the smaller
// index, so the order is deterministic and matches a CPU sort by (distance, index).
//
// Two stages, so a long row is searched by many workgroups:
//   partial  workgroup (block b, row r) keeps the k best of columns
//            [b * block, (b + 1) * block) as (similarity, column) candidates;
//   merge    one workgroup per row keeps the k best of the row's blocks * k
//            candidates and writes distances (with one block, `merge` alone
//            is not needed: `partial` then `merge` still works, blocks = 1).
// Within a workgroup each of the WG lanes keeps a sorted top-k of its strided
// share in registers (insertion, k <= MAXK), the lists go to workgroup
// memory and lane 0 merges the WG sorted lists k times. NaNs are skipped.
const WG: u32 = 32u;
const MAXK: u32 = 32u;
const NONE: f32 = -4.0; // below any similarity of unit vectors

struct Params { m: u32, n: u32, k: u32, offset: u32, block: u32, blocks: u32, }
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> sim: array<f32>;
// [m, blocks, k] candidates of `partial`, read by `merge`.
@group(0) @binding(2) var<storage, read_write> cand_v: array<f32>;
@group(0) @binding(3) var<storage, read_write> cand_i: array<i32>;
@group(0) @binding(4) var<storage, read> in_v: array<f32>;
@group(0) @binding(5) var<storage, read> in_i: array<i32>;
@group(0) @binding(6) var<storage, read_write> out_dist: array<f32>;
@group(0) @binding(7) var<storage, read_write> out_index: array<i32>;

var<workgroup> lists_v: array<f32, 1024>; // WG * MAXK
var<workgroup> lists_i: array<u32, 1024>;
var<workgroup> lens: array<u32, 32>;
// Lane 0's merged result.
var<workgroup> best_v: array<f32, 32>;
var<workgroup> best_i: array<u32, 32>;
var<workgroup> best_n: u32;

var<private> bv: array<f32, 32>;
var<private> bi: array<u32, 32>;
var<private> len: u32;
// The list's last entry (bv[k - 1], bi[k - 1]) once it is full, in scalars:
// most offers stop at the comparison with it, and a scalar costs no indexed
// access to the private array (a loop of per-lane loads on lavapipe).
var<private> last_v: f32;
var<private> last_i: u32;

// (s, i) ranks before (t, j): larger similarity, then smaller index.
fn before(s: f32, i: u32, t: f32, j: u32) -> bool {
  return s > t || (s == t && i < j);
}

fn offer(s: f32, idx: u32, k: u32) {
  if (s != s) { return; }
  if (len == k && !before(s, idx, last_v, last_i)) { return; }
  var pos = select(len, k - 1u, len == k);
  if (len < k) { len += 1u; }
  while (pos > 0u && before(s, idx, bv[pos - 1u], bi[pos - 1u])) {
    bv[pos] = bv[pos - 1u];
    bi[pos] = bi[pos - 1u];
    pos -= 1u;
  }
  bv[pos] = s;
  bi[pos] = idx;
  if (len == k) {
    last_v = bv[k - 1u];
    last_i = bi[k - 1u];
  }
}

// Merges the lanes' lists into best_v / best_i / best_n (all lanes call it).
fn merge_lanes(lane: u32, k: u32) {
  for (var t = 0u; t < len; t++) {
    lists_v[lane * MAXK + t] = bv[t];
    lists_i[lane * MAXK + t] = bi[t];
  }
  lens[lane] = len;
  workgroupBarrier();
  if (lane == 0u) {
    var heads: array<u32, 32>;
    for (var l = 0u; l < WG; l++) { heads[l] = 0u; }
    var count = 0u;
    for (var r = 0u; r < k; r++) {
      var pick = WG;
      var pv = 0.0;
      var pi = 0u;
      for (var l = 0u; l < WG; l++) {
        if (heads[l] >= lens[l]) { continue; }
        let v = lists_v[l * MAXK + heads[l]];
        let i = lists_i[l * MAXK + heads[l]];
        if (pick == WG || before(v, i, pv, pi)) {
          pick = l;
          pv = v;
          pi = i;
        }
      }
      if (pick == WG) { break; }
      heads[pick] += 1u;
      best_v[r] = pv;
      best_i[r] = pi;
      count += 1u;
    }
    best_n = count;
  }
  workgroupBarrier();
}

@compute @workgroup_size(32)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y + wid.z * 65535u;
  if (row >= u.m) { return; } // uniform across the workgroup
  let b = wid.x;
  let lane = lid.x;
  let k = min(u.k, MAXK);
  len = 0u;
  let base = row * u.n;
  let end = min(u.n, (b + 1u) * u.block);
  for (var j = b * u.block + lane; j < end; j += WG) {
    offer(sim[base + j], j, k);
  }
  merge_lanes(lane, k);
  if (lane < k) {
    let o = (row * u.blocks + b) * u.k + lane;
    let ok = lane < best_n;
    cand_v[o] = select(NONE, best_v[lane], ok);
    cand_i[o] = select(-1, i32(best_i[lane]), ok);
  }
}

@compute @workgroup_size(32)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y + wid.z * 65535u;
  if (row >= u.m) { return; }
  let lane = lid.x;
  let k = min(u.k, MAXK);
  len = 0u;
  let count = u.blocks * u.k;
  let base = row * count;
  for (var j = lane; j < count; j += WG) {
    let idx = in_i[base + j];
    if (idx >= 0) { offer(in_v[base + j], u32(idx), k); }
  }
  merge_lanes(lane, k);
  if (lane < k) {
    let o = row * u.k + lane;
    if (lane < best_n) {
      out_dist[o] = sqrt(max(0.0, 2.0 - 2.0 * best_v[lane]));
      out_index[o] = i32(best_i[lane] + u.offset);
    } else {
      // Fewer than k valid columns: -1 / 3 (past any unit-vector distance).
      out_dist[o] = 3.0;
      out_index[o] = -1;
    }
  }
}
