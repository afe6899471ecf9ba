import type { X509Certificate } from "node:crypto";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

// A plain SMTP client on loopback for the watcher's graceful-reload tests: a session that is
// held open across an apply (EHLO, STARTTLS, MAIL, RCPT, part of DATA), and a probe that
// connects and completes a STARTTLS handshake. Certificates are not verified (self-signed).

export interface Reply {
  code: number;
  text: string;
}

export class SmtpSession {
  private buffer = "";
  private waiting: ((reply: Reply) => void) | undefined;
  private failure: ((error: Error) => void) | undefined;
  private closedWith: Error | undefined;
  private constructor(private socket: Socket | TLSSocket) {
    this.listen(socket);
  }

  /** Connect and read the banner. */
  static async open(port: number, timeoutMs = 5_000): Promise<{ session: SmtpSession; banner: Reply }> {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("timeout")));
    const session = new SmtpSession(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return { session, banner: await session.reply() };
  }

  async command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return await this.reply();
  }

  /** Raw bytes (a part of DATA); no reply is expected. */
  write(text: string): void {
    this.socket.write(text);
  }

  /** STARTTLS and the handshake with SNI `serverName`; the certificate the server sent. */
  async startTls(serverName: string): Promise<X509Certificate> {
    const reply = await this.command("STARTTLS");
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.code} ${reply.text}`);
    const plain = this.socket as Socket;
    plain.removeAllListeners("data");
    const secure = tlsConnect({ socket: plain, servername: serverName, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    this.socket = secure;
    this.listen(secure);
    const peer = secure.getPeerX509Certificate();
    if (!peer) throw new Error("no certificate after the handshake");
    return peer;
  }

  close(): void {
    this.socket.destroy();
  }

  reply(): Promise<Reply> {
    const complete = this.take();
    if (complete) return Promise.resolve(complete);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failure = reject;
    });
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.on("data", (data: Buffer) => {
      this.buffer += data.toString("latin1");
      const complete = this.waiting && this.take();
      if (complete) {
        const resolve = this.waiting!;
        this.waiting = this.failure = undefined;
        resolve(complete);
      }
    });
    const fail = (error: Error) => {
      this.closedWith = error;
      const reject = this.failure;
      this.waiting = this.failure = undefined;
      reject?.(error);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed")));
  }

  /** The first complete (multi-line) reply in the buffer, removed from it. */
  private take(): Reply | undefined {
    const lines = this.buffer.split("\r\n");
    for (let index = 0; index < lines.length - 1; index++) {
      const line = lines[index]!;
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        this.buffer = lines.slice(index + 1).join("\r\n");
        return { code: Number(line.slice(0, 3)), text: lines.slice(0, index + 1).join("\n") };
      }
    }
    return undefined;
  }
}

export type ProbeResult = "ok" | "refused" | "handshake-failed" | "other-failure";

/** Connect, EHLO, STARTTLS with SNI, QUIT: what a client connecting now gets. */
export async function probeStartTls(
  port: number,
  serverName: string,
): Promise<{ result: ProbeResult; detail?: string; fingerprint?: string }> {
  let opened: { session: SmtpSession; banner: Reply };
  try {
    opened = await SmtpSession.open(port);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { result: code === "ECONNREFUSED" ? "refused" : "other-failure", detail: String(error) };
  }
  const { session, banner } = opened;
  try {
    if (banner.code !== 220) return { result: "other-failure", detail: `banner ${banner.text}` };
    const ehlo = await session.command("EHLO probe.test");
    if (ehlo.code !== 250) return { result: "other-failure", detail: `EHLO ${ehlo.text}` };
    let certificate: X509Certificate;
    try {
      certificate = await session.startTls(serverName);
    } catch (error) {
      return { result: "handshake-failed", detail: String(error) };
    }
    await session.command("QUIT").catch(() => undefined);
    return { result: "ok", fingerprint: certificate.fingerprint256 };
  } catch (error) {
    return { result: "other-failure", detail: String(error) };
  } finally {
    session.close();
  }
}
