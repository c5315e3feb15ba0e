/** Resolves when a writable has flushed its buffer to the kernel, or has closed. */
export function waitDrain(w: NodeJS.WritableStream & { writableLength: number; destroyed: boolean; once(e: string, l: () => void): unknown; off(e: string, l: () => void): unknown }): Promise<void> {
  if (w.writableLength === 0 || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.once('drain', done);
    w.once('close', done);
  });
}
