// A validation worker that fails with no message at all (`throw ""`), tests.
declare const self: Worker;
export {};
self.onmessage = () => {
  throw "";
};
