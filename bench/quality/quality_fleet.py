"""The processes of a balancing-quality run: reference servers, shortline-lb in each mode,
nginx, each in its own process group and stopped for sure; and the UDP port helpers."""

import json
import os
import re
import signal
import socket
import subprocess
import time

NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
LISTEN_RE = re.compile(r"listening on (\S+):(\d+)")
SERVERS = [(i + 1, 1.0) for i in range(6)] + [(7, 0.25), (8, 0.25)]  # (id, speed)
SERVICE_MS = 1.0
READY_TIMEOUT_S = 10
STOP_TIMEOUT_S = 5
WEIGHT_PER_SPEED = 4
POLL_S = 0.02


class Child:
    """A process in its own process group (nginx's workers die with it), output to a file."""

    live = []

    def __init__(self, name, argv, log_dir):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        Child.live.append(self)

    def wait_listening(self):
        """The port of the first 'listening on HOST:PORT' line, waiting at most READY_TIMEOUT_S."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as log:
                match = LISTEN_RE.search(log.read())
            if match:
                return int(match.group(2))
            if self.proc.poll() is not None:
                break
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.name} did not start; see {self.log_path}")

    def stop(self):
        """SIGTERM to the group, SIGKILL after STOP_TIMEOUT_S; never leaves anything behind."""
        if self in Child.live:
            Child.live.remove(self)
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # nginx workers, or anything else left in the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @classmethod
    def stop_all(cls):
        for child in list(reversed(cls.live)):
            child.stop()


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_udp_ports_below_ephemeral(count):
    """`count` distinct free UDP ports below the kernel's ephemeral range: a balancer opens
    thousands of upstream sockets on ephemeral ports, so a control port picked there for a
    balancer started later may be taken by then (seen with three balancers)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    span = max(1, low - 20000)
    start = (os.getpid() * 7) % span
    ports = []
    for offset in range(span):
        port = 20000 + (start + offset) % span
        if not udp_port_bound(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    return ports + [free_udp_port() for _ in range(count - len(ports))]


def udp_port_bound(port):
    """Whether some process holds 127.0.0.1:port (UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def start_servers(bin_dir, log_dir, report_ports, report_interval_ms=None):
    """The reference servers; each reports to every port in `report_ports` (none: static),
    every `report_interval_ms` (None: the server's default)."""
    servers = []
    for server_id, speed in SERVERS:
        argv = [os.path.join(bin_dir, "shortline-server"), "--port", "0", "--id", str(server_id),
                "--service-ms", str(SERVICE_MS), "--service-dist", "exponential",
                "--speed", str(speed), "--workers", "1", "--log-dir", log_dir]
        if report_interval_ms is not None:
            argv += ["--report-interval-ms", str(report_interval_ms)]
        for report_port in report_ports:
            argv += ["--balancer", f"127.0.0.1:{report_port}"]
        child = Child(f"server-{server_id}", argv, log_dir)
        servers.append((server_id, speed, child))
    return [(server_id, speed, child.wait_listening()) for server_id, speed, child in servers]


def lb_help(bin_dir):
    return subprocess.run([os.path.join(bin_dir, "shortline-lb"), "--help"], capture_output=True,
                          text=True, timeout=10).stdout


def weight_of(speed):
    """Static weight in proportion to speed: 4 for speed 1, 1 for speed 0.25."""
    return max(1, round(speed * WEIGHT_PER_SPEED))


def start_lb(bin_dir, log_dir, policy, servers, mode, report_port, help_text, tag="", peers=0,
             report_interval_ms=None):
    """shortline-lb with static backends (weight 1, or by speed in mode 'weighted'), or in mode
    'reports' with none: the servers join by reporting to its control port. `peers`: the
    other balancers in front of the same servers (load_balancer.peer_balancers);
    `report_interval_ms`: the servers' report interval (load_balancer.report_interval_ms)."""
    # A port checked free, not port 0: with SO_REUSEPORT set, Linux may give port 0 a port that
    # another same-user reuseport socket holds, and the two processes then share its traffic.
    argv = [os.path.join(bin_dir, "shortline-lb"), "--listen", f"127.0.0.1:{free_udp_port()}",
            "--policy", policy, "--workers", "1"]
    if "--admin" in help_text:
        argv += ["--admin", "127.0.0.1:0"]
    if "--controller-port" in help_text:
        argv += ["--controller-port", "0"]  # no ScaleRequests: the pool stays as it is
    if mode == "reports":
        config_path = os.path.join(log_dir, f"lb-{mode}{tag}.json")
        with open(config_path, "w") as config:
            section = {"server_side_port": report_port}
            if peers:
                section["peer_balancers"] = peers
            if report_interval_ms is not None:
                section["report_interval_ms"] = report_interval_ms
            json.dump({"load_balancer": section}, config)
        argv += ["--config", config_path]
    else:
        weighted = mode == "weighted"
        argv += ["--backend", ",".join(
            f"127.0.0.1:{port}" + (f"@{weight_of(speed)}" if weighted else "")
            for _, speed, port in servers)]
    child = Child(f"lb-{policy}-{mode}{tag}", argv, log_dir)
    return child, child.wait_listening()


def start_nginx(log_dir, servers, weighted, tag=None):
    """nginx's stream proxy, least_conn over the servers; `tag` names its config and log
    (default: the mode, static or weighted)."""
    tag = tag or ("weighted" if weighted else "static")
    port = free_udp_port()
    upstream = "".join(f"    server 127.0.0.1:{p}" +
                       (f" weight={weight_of(speed)}" if weighted else "") + ";\n"
                       for _, speed, p in servers)
    conf = (f"load_module {NGINX_STREAM_MODULE};\nworker_processes 1;\n"
            f"pid {log_dir}/nginx.pid;\nerror_log {log_dir}/nginx-error.log warn;\n"
            "events { worker_connections 65536; }\n"
            f"stream {{\n  upstream pool {{\n    least_conn;\n{upstream}  }}\n"
            f"  server {{\n    listen 127.0.0.1:{port} udp;\n    proxy_pass pool;\n"
            "    proxy_responses 1;\n    proxy_timeout 2s;\n  }\n}\n")
    conf_path = os.path.join(log_dir, f"nginx-{tag}.conf")
    with open(conf_path, "w") as out:
        out.write(conf)
    argv = ["nginx", "-c", conf_path, "-p", log_dir + "/", "-e", f"{log_dir}/nginx-error.log",
            "-g", "daemon off;"]
    child = Child(f"nginx-{tag}", argv, log_dir)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not udp_port_bound(port):
        if child.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start; see {child.log_path} and nginx-error.log")
        time.sleep(POLL_S)
    return child, port


def reports_supported(bin_dir, log_dir, help_text):
    """Whether shortline-lb binds load_balancer.server_side_port (its control thread exists)."""
    port = free_udp_port()
    config_path = os.path.join(log_dir, "probe.json")
    with open(config_path, "w") as config:
        json.dump({"load_balancer": {"server_side_port": port}}, config)
    argv = [os.path.join(bin_dir, "shortline-lb"), "--listen", "127.0.0.1:0", "--config",
            config_path, "--backend", "127.0.0.1:9"]
    if "--admin" in help_text:
        argv += ["--admin", "127.0.0.1:0"]
    if "--controller-port" in help_text:
        argv += ["--controller-port", "0"]
    probe = Child("lb-probe", argv, log_dir)
    try:
        probe.wait_listening()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if udp_port_bound(port):
                return True
            time.sleep(POLL_S)
        return False
    except RuntimeError:
        return False
    finally:
        probe.stop()
