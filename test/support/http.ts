// A local stand-in for mailcow's ASN check service: fixed status, or never answering.

export interface TestHttpServer {
  url: string;
  stop(): void;
}

export function startAsnServer(behaviour: { status: number } | "hang"): TestHttpServer {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch() {
      if (behaviour === "hang") return new Promise<Response>(() => {});
      return new Response("", { status: behaviour.status });
    },
  });
  return { url: `http://127.0.0.1:${server.port}/`, stop: () => server.stop(true) };
}
