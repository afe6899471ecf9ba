// A validation worker that fails on its slice (validate-parallel's fallback, tests).
declare const self: Worker;
export {};
self.onmessage = () => {
  throw new Error("stand-in worker failed");
};
