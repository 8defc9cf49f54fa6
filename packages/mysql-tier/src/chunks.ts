/**
 * Statement sizing. mysql2 prepares (and caches, per connection) one statement per distinct SQL text,
 * and preparing a 1000-row statement costs about as much as running it. So every multi-row statement
 * and every `IN (…)` list the tier sends has one of a few fixed sizes: the powers of two up to
 * `MAX_STATEMENT_ROWS` (12 sizes), and each connection caches at most 12 texts per statement kind.
 *
 * - `IN (…)` lists: chunks of `MAX_STATEMENT_ROWS` ids, the last one padded up to the next size by
 *   repeating its last id (a repeated id changes no answer): one round trip per 2048 ids.
 * - Rows (upserts): chunks of at most `MAX_STATEMENT_ROWS` rows and a byte budget (large payloads
 *   shrink a chunk below the server's `max_allowed_packet`); a chunk of another size is sent as its
 *   binary decomposition (1500 = 1024 + 256 + 128 + 64 + 16 + 8 + 4): no padding, no extra bytes.
 */
export const MAX_STATEMENT_ROWS = 2048

/** Every size a statement can have, ascending. */
export const STATEMENT_SIZES: readonly number[] = Array.from(
  { length: Math.log2(MAX_STATEMENT_ROWS) + 1 },
  (_, i) => 2 ** i,
)

/** `ids` in `IN (…)`-sized pieces, each of a size in `STATEMENT_SIZES` (padded with its last id). */
export function inPieces<T>(ids: readonly T[]): T[][] {
  const pieces: T[][] = []
  for (let start = 0; start < ids.length; start += MAX_STATEMENT_ROWS) {
    const piece = ids.slice(start, start + MAX_STATEMENT_ROWS)
    const size = 2 ** Math.ceil(Math.log2(piece.length))
    const last = piece[piece.length - 1] as T
    while (piece.length < size) piece.push(last)
    pieces.push(piece)
  }
  return pieces
}

/**
 * `rows` in statement pieces: chunks of at most `MAX_STATEMENT_ROWS` rows whose `bytesOf` sum stays
 * within `maxBytes` (a chunk always holds at least one row), each split into power-of-two pieces.
 * Pieces keep the input order.
 */
export function rowPieces<T>(rows: readonly T[], maxBytes: number, bytesOf: (row: T) => number): T[][] {
  const pieces: T[][] = []
  let start = 0
  while (start < rows.length) {
    let end = Math.min(rows.length, start + MAX_STATEMENT_ROWS)
    let bytes = 0
    for (let i = start; i < end; i++) {
      bytes += bytesOf(rows[i]!)
      if (bytes > maxBytes && i > start) {
        end = i
        break
      }
    }
    for (let size = MAX_STATEMENT_ROWS; start < end; size /= 2) {
      if (end - start >= size) {
        pieces.push(rows.slice(start, start + size))
        start += size
      }
    }
  }
  return pieces
}
