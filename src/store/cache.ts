/** A least-recently-used map of buffers within a byte budget. */
export class RamCache<K = string> {
  private readonly map = new Map<K, Buffer>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(private budget: number) {}

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.map.size;
  }

  get capacity(): number {
    return this.budget;
  }

  get(key: K): Buffer | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: Buffer): void {
    this.delete(key);
    if (value.length > this.budget) return;
    this.map.set(key, value);
    this.used += value.length;
    this.evict();
  }

  delete(key: K): void {
    const old = this.map.get(key);
    if (old) {
      this.used -= old.length;
      this.map.delete(key);
    }
  }

  resize(budget: number): void {
    this.budget = budget;
    this.evict();
  }

  clear(): void {
    this.map.clear();
    this.used = 0;
  }

  private evict(): void {
    while (this.used > this.budget) {
      const first = this.map.keys().next();
      if (first.done) break;
      this.delete(first.value);
    }
  }
}
