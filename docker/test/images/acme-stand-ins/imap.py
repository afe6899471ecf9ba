"""Stand-in for dovecot-mailcow (written for the tests): IMAP on 127.0.0.1:143 with STARTTLS,
serving /etc/ssl/mail's cert.pem + key.pem as read when it started (a restart re-reads them,
as acme's restart of Dovecot does). Enough for `openssl s_client -starttls imap` and `nc -z`."""
import socketserver, ssl

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/etc/ssl/mail/cert.pem", "/etc/ssl/mail/key.pem")


class Session(socketserver.StreamRequestHandler):
    def handle(self):
        conn, reader = self.request, self.rfile
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] stand-in ready\r\n")
        while True:
            line = reader.readline()
            if not line:
                return
            tag, _, command = line.decode(errors="replace").strip().partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                conn.sendall(f"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n".encode())
            elif command == "STARTTLS":
                conn.sendall(f"{tag} OK Begin TLS\r\n".encode())
                conn = context.wrap_socket(conn, server_side=True)
                reader = conn.makefile("rb")
            elif command == "LOGOUT":
                conn.sendall(f"* BYE\r\n{tag} OK done\r\n".encode())
                return
            else:
                conn.sendall(f"{tag} BAD unknown\r\n".encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


Server(("127.0.0.1", 143), Session).serve_forever()
