// A validation worker that ends without answering and without an error, tests.
declare const self: Worker;
export {};
self.onmessage = () => {
  process.exit(0);
};
