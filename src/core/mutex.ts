/** An async mutex: run() calls are serialized in arrival order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private held = 0;

  get locked(): boolean {
    return this.held > 0;
  }

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    this.held++;
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => {
        this.held--;
      },
      () => {
        this.held--;
      },
    );
    return result;
  }
}
