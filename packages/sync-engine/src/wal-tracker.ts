/**
 * Which WAL records this process still needs, and how far the log may be acknowledged (SPEC §5.3).
 *
 * Two kinds of record share the log, in one sequence order:
 * - shadow records of `local` writes, appended at submit: done once their id's latest write commits
 *   to L3 (or is replayed by a drain);
 * - backlog records, the L3 mutations of flushes that could not reach L3 (or found in the log at
 *   start): only the drain applies them, in order. While any exist, every flush goes to the log
 *   behind them, so per-id order holds end to end.
 *
 * The log is acknowledged as a prefix: up to the first record that is not done yet.
 */
export class WalTracker {
  // Outstanding records in sequence order (read from `#head`).
  #seqs: number[] = []
  #head = 0
  readonly #done = new Set<number>()
  /** Every record with seq ≤ this is gone from the log. */
  ackedUpTo = 0
  /** The last backlog record; the backlog is drained once `ackedUpTo` reaches it. */
  backlogUpTo = 0

  /** Records just appended, in seq order. */
  add(records: readonly { seq: number }[], backlog: boolean): void {
    const first = records[0]?.seq
    if (first !== undefined && this.#head < this.#seqs.length && first < this.#seqs[this.#seqs.length - 1]!) {
      // Appends that completed out of order (a log that answers asynchronously): keep the order.
      const outstanding = this.#seqs.slice(this.#head)
      for (const r of records) outstanding.push(r.seq)
      this.#seqs = outstanding.sort((a, b) => a - b)
      this.#head = 0
    } else for (const r of records) this.#seqs.push(r.seq)
    const last = records[records.length - 1]
    if (backlog && last) this.backlogUpTo = Math.max(this.backlogUpTo, last.seq)
  }

  /**
   * Records `oldest`…`newest` a previous run left in the log: backlog. The newest stands for all of
   * them as an outstanding record, so no acknowledgement of a later record (a `local` write done
   * meanwhile) reaches past them before the drain applied them.
   */
  leftover(oldest: number, newest: number): void {
    this.ackedUpTo = oldest - 1
    this.add([{ seq: newest }], true)
  }

  /** Records a drain must apply exist (appended by failed flushes, or found at start). */
  get backlog(): boolean {
    return this.backlogUpTo > this.ackedUpTo
  }

  get outstanding(): number {
    return this.#seqs.length - this.#head
  }

  /**
   * A shadow record whose write committed. Resolves to the seq up to which the log may now be
   * acknowledged (every record before it is done too), or `undefined`.
   */
  done(seq: number): number | undefined {
    if (seq <= this.ackedUpTo) return undefined
    let upto: number | undefined
    if (this.#seqs[this.#head] === seq) {
      // The oldest outstanding record (writes usually commit in the order they were logged).
      upto = seq
      this.#head++
      if (this.#done.size > 0) this.#done.delete(seq)
    } else this.#done.add(seq)
    while (this.#done.size > 0 && this.#head < this.#seqs.length && this.#done.has(this.#seqs[this.#head]!)) {
      upto = this.#seqs[this.#head]!
      this.#done.delete(upto)
      this.#head++
    }
    if (upto !== undefined) this.ackedUpTo = Math.max(this.ackedUpTo, upto)
    this.#compact()
    return upto
  }

  /** Every record with seq ≤ `seq` left the log (a drain applied them). */
  acked(seq: number): void {
    while (this.#head < this.#seqs.length && this.#seqs[this.#head]! <= seq) {
      this.#done.delete(this.#seqs[this.#head]!)
      this.#head++
    }
    this.ackedUpTo = Math.max(this.ackedUpTo, seq)
    this.#compact()
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#seqs.length) {
      this.#seqs = this.#seqs.slice(this.#head)
      this.#head = 0
    }
  }
}
