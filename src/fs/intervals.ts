/** A set of disjoint, sorted, half-open byte ranges [start, end). */
export class IntervalSet {
  /** Flattened pairs: starts at even indexes, ends at odd. */
  private r: number[] = [];

  get empty(): boolean {
    return this.r.length === 0;
  }

  get first(): number {
    return this.r.length ? (this.r[0] as number) : Number.POSITIVE_INFINITY;
  }

  get last(): number {
    return this.r.length ? (this.r[this.r.length - 1] as number) : 0;
  }

  /** Index of the first range whose end is >= x. */
  private find(x: number): number {
    let lo = 0;
    let hi = this.r.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.r[mid * 2 + 1] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const i = this.find(start);
    let j = i;
    let s = start;
    let e = end;
    while (j * 2 < this.r.length && (this.r[j * 2] as number) <= end) {
      s = Math.min(s, this.r[j * 2] as number);
      e = Math.max(e, this.r[j * 2 + 1] as number);
      j++;
    }
    this.r.splice(i * 2, (j - i) * 2, s, e);
  }

  /** Removes everything at or after `x`. */
  clipTo(x: number): void {
    const i = this.find(x);
    if (i * 2 >= this.r.length) return;
    if ((this.r[i * 2] as number) < x) {
      this.r[i * 2 + 1] = x;
      this.r.length = i * 2 + 2;
    } else {
      this.r.length = i * 2;
    }
  }

  clear(): void {
    this.r = [];
  }

  /**
   * Splits [start, end) into consecutive pieces, each inside (true) or
   * outside (false) the set.
   */
  pieces(start: number, end: number): Array<[number, number, boolean]> {
    const out: Array<[number, number, boolean]> = [];
    let pos = start;
    for (let i = this.find(start); i * 2 < this.r.length && pos < end; i++) {
      const s = this.r[i * 2] as number;
      const e = this.r[i * 2 + 1] as number;
      if (s >= end) break;
      if (s > pos) out.push([pos, s, false]);
      const a = Math.max(s, pos);
      const b = Math.min(e, end);
      if (b > a) out.push([a, b, true]);
      pos = b;
    }
    if (pos < end) out.push([pos, end, false]);
    return out;
  }

  toArray(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.r.length; i += 2) out.push([this.r[i] as number, this.r[i + 1] as number]);
    return out;
  }
}
