"""Stand-in for mailcow's dockerapi (written for the tests): the calls acme's
reload-configurations.sh makes, answered as mailcow's main.py and DockerApi.py answer them,
through the Docker engine socket mounted at /var/run/docker.sock.

GET  /containers/json              every running container's inspect document, keyed by Id
GET  /containers/ID/json           that container's inspect document
POST /containers/ID/restart        docker restart; {"type": "success", ...}
POST /containers/ID/exec           {"cmd": "reload", "task": "postfix|dovecot|nginx"}: the same
                                   command mailcow's runs in the container; success on exit 0
"""
import http.client, http.server, json, socket, ssl, sys, time

RELOAD = {
    "postfix": ["/bin/bash", "-c", "/usr/sbin/postfix reload"],
    "dovecot": ["/bin/bash", "-c", "/usr/sbin/dovecot reload"],
    "nginx": ["/bin/sh", "-c", "/usr/sbin/nginx -s reload"],
}


class Engine(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost", timeout=120)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/var/run/docker.sock")


def engine(method, path, body=None):
    conn = Engine()
    conn.request(method, path, body=None if body is None else json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return json.loads(data) if data else None


def exec_in(container, cmd):
    created = engine("POST", f"/containers/{container}/exec", {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
    engine("POST", f"/exec/{created['Id']}/start", {"Detach": True, "Tty": False})
    while True:
        state = engine("GET", f"/exec/{created['Id']}/json")
        if not state["Running"]:
            return state["ExitCode"]
        time.sleep(0.05)


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, document):
        data = json.dumps(document, indent=4).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts == ["containers", "json"]:
            listed = engine("GET", "/containers/json")
            return self.reply({c["Id"]: engine("GET", f"/containers/{c['Id']}/json") for c in listed})
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            return self.reply(engine("GET", f"/containers/{parts[1]}/json"))
        self.reply({"type": "danger", "msg": "unknown api call"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = {}
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "containers" or not parts[1].isalnum():
            return self.reply({"type": "danger", "msg": "invalid container id or missing action"})
        container, action = parts[1], parts[2]
        print(f"api call: {action} {request}, container_id: {container}", flush=True)
        if action == "restart":
            engine("POST", f"/containers/{container}/restart")
            return self.reply({"type": "success", "msg": "command completed successfully"})
        if action == "exec" and request.get("cmd") == "reload" and request.get("task") in RELOAD:
            code = exec_in(container, RELOAD[request["task"]])
            return self.reply({"type": "success", "msg": "command completed successfully"} if code == 0 else {"type": "danger", "msg": f"command failed: exit {code}"})
        self.reply({"type": "danger", "msg": "container_post - unknown api call"})

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("/etc/dockerapi-cert.pem", "/etc/dockerapi-key.pem")
server.socket = context.wrap_socket(server.socket, server_side=True)
print("dockerapi stand-in on 127.0.0.1:443", flush=True)
server.serve_forever()
