// Measures the string-hash candidates for the cuckoo filter: speed on typical ids and how well the
// (index, fingerprint) pair they yield behaves (bucket spread, false-positive rate at 1M keys).
// Run: node packages/cuckoo-filter/scripts/hash-candidates.mjs   (not part of the package build)

const imul = Math.imul
let H1 = 0
let H2 = 0

const fmix = (h) => {
  h ^= h >>> 16
  h = imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/** Two FNV-1a-like lanes over UTF-16 code units, one unit per step, cross-mixed at the end (cyrb53 style). */
function fnv2(s, seed) {
  let a = 0xdeadbeef ^ seed
  let b = 0x41c6ce57 ^ seed
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    a = imul(a ^ c, 0x9e3779b1)
    b = imul(b ^ c, 0x5f356495)
  }
  a = imul(a ^ (a >>> 16), 0x85ebca6b) ^ imul(b ^ (b >>> 13), 0xc2b2ae35)
  b = imul(b ^ (b >>> 16), 0x85ebca6b) ^ imul(a ^ (a >>> 13), 0xc2b2ae35)
  H1 = a
  H2 = b
}

/** Same two lanes, but two code units (one 32-bit word) per step. */
function fnv2w(s, seed) {
  let a = 0xdeadbeef ^ seed
  let b = 0x41c6ce57 ^ seed
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    const c = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)
    a = imul(a ^ c, 0x9e3779b1)
    b = imul(b ^ c, 0x5f356495)
    a ^= a >>> 15
    b ^= b >>> 13
  }
  if (i < n) {
    const c = s.charCodeAt(i)
    a = imul(a ^ c, 0x9e3779b1)
    b = imul(b ^ c, 0x5f356495)
  }
  a ^= n
  a = imul(a ^ (a >>> 16), 0x85ebca6b) ^ imul(b ^ (b >>> 13), 0xc2b2ae35)
  b = imul(b ^ (b >>> 16), 0x85ebca6b) ^ imul(a ^ (a >>> 13), 0xc2b2ae35)
  H1 = fmix(a)
  H2 = fmix(b)
}

function murmur3(s, seed) {
  let h = seed
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)
    k = imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (imul(h, 5) + 0xe6546b64) | 0
  }
  if (i < n) {
    let k = s.charCodeAt(i)
    k = imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = imul(k, 0x1b873593)
    h ^= k
  }
  return fmix(h ^ (n * 2))
}
/** murmur3_32 over code-unit pairs, twice (two seeds). */
function murmur3x2(s, seed) {
  H1 = murmur3(s, seed)
  H2 = murmur3(s, seed ^ 0x9e3779b9)
}

const P2 = 0x85ebca77
const P3 = 0xc2b2ae3d
const P4 = 0x27d4eb2f
const P5 = 0x165667b1
function xxh32(s, seed) {
  const n = s.length
  let h = (seed + P5 + n * 2) | 0
  let i = 0
  for (; i + 1 < n; i += 2) {
    h = (h + imul(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16), P3)) | 0
    h = imul((h << 17) | (h >>> 15), P4)
  }
  if (i < n) {
    h = (h + imul(s.charCodeAt(i), P5)) | 0
    h = imul((h << 11) | (h >>> 21), 0x9e3779b1)
  }
  h ^= h >>> 15
  h = imul(h, P2)
  h ^= h >>> 13
  h = imul(h, P3)
  return h ^ (h >>> 16)
}
/** xxhash32 (short-input path) over code-unit pairs, twice. */
function xxh32x2(s, seed) {
  H1 = xxh32(s, seed)
  H2 = xxh32(s, seed ^ 0x9e3779b9)
}

/** 32-bit FNV-1a over UTF-8 bytes (TextEncoder.encodeInto), two lanes: the cost of going through UTF-8. */
const enc = new TextEncoder()
const buf = new Uint8Array(1024)
function fnvUtf8(s, seed) {
  const { written } = enc.encodeInto(s, buf)
  let a = 0x811c9dc5 ^ seed
  let b = 0x41c6ce57 ^ seed
  for (let i = 0; i < written; i++) {
    const c = buf[i]
    a = imul(a ^ c, 0x01000193)
    b = imul(b ^ c, 0x5f356495)
  }
  H1 = fmix(a ^ imul(b, 0x9e3779b1))
  H2 = fmix(b ^ H1)
}

/** Single 32-bit FNV-1a + fmix, index and fingerprint from the same 32 bits (the tempting shortcut). */
function fnv1(s, seed) {
  let a = 0x811c9dc5 ^ seed
  for (let i = 0; i < s.length; i++) a = imul(a ^ s.charCodeAt(i), 0x01000193)
  H1 = fmix(a)
  H2 = fmix(H1 ^ 0x5bd1e995)
}

const candidates = { fnv2, fnv2w, murmur3x2, xxh32x2, fnvUtf8, fnv1 }

const N = 1_000_000
const shapes = {
  short: (i) => `user.${i}`,
  dotted: (i) => `uk.nhs.patient.${i}`,
  long: (i) => `tenant-${i % 97}.orders.2024.${i}.line-items.${(i * 7919) % 100003}.document`,
}

function speed(fn, keys) {
  let acc = 0
  for (let r = 0; r < 3; r++) for (const k of keys) fn(k, 0)
  const t0 = process.hrtime.bigint()
  for (let r = 0; r < 5; r++)
    for (const k of keys) {
      fn(k, 0)
      acc ^= H1 ^ H2
    }
  const ns = Number(process.hrtime.bigint() - t0) / (5 * keys.length)
  return { ns, acc }
}

/** FPR of a 16-bit, 4-slot cuckoo-like table filled to the given load with the first `n` keys (no kicks: chi-square of the index spread, then exact FPR by counting matches). */
function quality(fn, shape) {
  const bits = 16
  const max = (1 << bits) - 1
  const logBuckets = 18
  const mask = (1 << logBuckets) - 1
  const counts = new Uint32Array(mask + 1)
  // bucket spread (chi-square, expected n/buckets per bucket)
  const n = N
  for (let i = 0; i < n; i++) {
    fn(shape(i), 7)
    counts[H1 & mask]++
  }
  const e = n / (mask + 1)
  let chi = 0
  for (const c of counts) chi += ((c - e) * (c - e)) / e
  // (fingerprint, bucket) pairs: how many distinct among n keys (a 32-bit-only scheme collides more)
  const seen = new Set()
  for (let i = 0; i < n; i++) {
    fn(shape(i), 7)
    seen.add((H1 & mask) * 65536 + ((H2 >>> 0) % max) + 1)
  }
  // false positives: absent keys whose (bucket, fp) pair was produced by some stored key
  let fp = 0
  const q = 2_000_000
  for (let i = 0; i < q; i++) {
    fn(shape(n + 1 + i), 7)
    if (seen.has((H1 & mask) * 65536 + ((H2 >>> 0) % max) + 1)) fp++
  }
  return {
    chiPerDof: chi / mask,
    distinct: seen.size,
    pairFpr: fp / q,
    expected: 1 - (1 - 1 / (max * (mask + 1))) ** seen.size,
  }
}

for (const [shapeName, shape] of Object.entries(shapes)) {
  const keys = Array.from({ length: 200_000 }, (_, i) => shape(i * 13))
  console.log(`\n${shapeName} ids (e.g. ${shape(123456)}, ${shape(123456).length} chars)`)
  for (const [name, fn] of Object.entries(candidates)) {
    const { ns } = speed(fn, keys)
    const q = quality(fn, shape)
    console.log(
      `${name.padEnd(10)} ${ns.toFixed(1).padStart(6)} ns/hash  chi²/dof ${q.chiPerDof.toFixed(3)}  distinct pairs ${q.distinct}  pair-FPR ${q.pairFpr.toExponential(2)} (ideal ${q.expected.toExponential(2)})`,
    )
  }
}
