"""The servers of the knee benchmark: a knot zone built from a capture's queries, knotd
instances that answer it authoritatively, and shortline-lb in front of them.

The queries come from Debian's pcap-queryparse (dnsperf package), one "NAME TYPE" line each,
the format resperf reads. Every queried name gets a record of its type in a zone of its own
(the name's last two labels), so knotd answers NOERROR from a real zone and never REFUSED.
Processes are quality_fleet.Child: own process group, output to a log, stopped for sure.
"""
import os
import random
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "quality"))
from quality_fleet import Child, free_udp_ports_below_ephemeral  # noqa: E402

READY_TIMEOUT_S = 10
PROBE_WAIT_S = 0.2
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
          "SRV": 33}


def parse_queries(capture, query_file):
    """Runs pcap-queryparse on the capture; returns the (name, type) lines it wrote."""
    done = subprocess.run(["pcap-queryparse", "-r", "-i", capture, "-o", query_file],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"error: pcap-queryparse failed: {(done.stderr or done.stdout).strip()}"
                 " (it needs python3-dnspython and python3-pcapy)")
    with open(query_file) as lines:
        queries = [tuple(line.split()[:2]) for line in lines if len(line.split()) >= 2]
    if not queries:
        sys.exit(f"error: no DNS queries in {capture}")
    return queries


def zone_of(name):
    """The zone a queried name is served from: its last two labels (the name itself when it
    has fewer)."""
    labels = [label for label in name.rstrip(".").split(".") if label]
    return ".".join(labels[-2:]) + "." if labels else "."


def record_data(qtype, apex, index):
    """Data for a record of qtype (addresses from the documentation ranges); None for a type
    left without data, which knotd answers NOERROR with an empty answer."""
    octet = 1 + index % 250
    return {"A": f"192.0.2.{octet}", "AAAA": f"2001:db8::{octet:x}", "MX": f"10 mail.{apex}",
            "TXT": '"shortline knee bench"', "PTR": f"host.{apex}",
            "SRV": f"0 0 53 host.{apex}"}.get(qtype.upper())


def write_zones(queries, zone_dir):
    """One zone file per apex with SOA, NS and a record per queried (name, type); returns
    the apexes."""
    zones = {}
    for name, qtype in queries:
        apex = zone_of(name)
        zones.setdefault(apex, set()).add((name if name.endswith(".") else name + ".", qtype))
    os.makedirs(zone_dir, exist_ok=True)
    for apex, names in zones.items():
        lines = [f"$ORIGIN {apex}", "$TTL 3600",
                 f"@ SOA ns1.{apex} hostmaster.{apex} 1 3600 600 86400 300",
                 "@ NS ns1", "ns1 A 127.0.0.1", "mail A 192.0.2.250", "host A 192.0.2.251"]
        for index, (name, qtype) in enumerate(sorted(names)):
            data = record_data(qtype, apex, index)
            if data:
                lines.append(f"{name} {qtype.upper()} {data}")
        with open(os.path.join(zone_dir, zone_file_name(apex)), "w") as out:
            out.write("\n".join(lines) + "\n")
    return sorted(zones)


def zone_file_name(apex):
    return (apex.rstrip(".") or "root") + ".zone"


def knot_config(work_dir, port, zone_dir, apexes):
    """knotd's configuration: one UDP worker on 127.0.0.1:port, its own rundir and storage,
    zones read from zone_dir and never written back."""
    zones = "".join(f"  - domain: \"{apex}\"\n    file: \"{zone_dir}/{zone_file_name(apex)}\"\n"
                    for apex in apexes)
    return (f"server:\n    rundir: \"{work_dir}/run\"\n    listen: 127.0.0.1@{port}\n"
            "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
            f"database:\n    storage: \"{work_dir}/storage\"\n"
            f"control:\n    listen: \"{work_dir}/run/knot.sock\"\n"
            "log:\n  - target: stderr\n    any: notice\n"
            "template:\n  - id: default\n    zonefile-sync: -1\n    zonefile-load: whole\n"
            "    journal-content: none\n"
            f"zone:\n{zones}")


def dns_query(name, qtype, query_id):
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode()
                      for label in name.rstrip(".").split(".") if label)
    return header + labels + b"\x00" + struct.pack("!HH", QTYPES.get(qtype.upper(), 1), 1)


def probe_rcode(port, name, qtype, wait_s=PROBE_WAIT_S):
    """The RCODE name of the answer 127.0.0.1:port gives to one query, or None."""
    query_id = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait_s)
        sock.sendto(dns_query(name, qtype, query_id), ("127.0.0.1", port))
        try:
            reply = sock.recv(4096)
        except OSError:
            return None
    if len(reply) < 12 or struct.unpack("!H", reply[:2])[0] != query_id:
        return None
    return RCODES.get(reply[3] & 0xF, str(reply[3] & 0xF))


def wait_answering(child, port, name, qtype):
    """Polls until the server answers the probe query; returns its RCODE."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        rcode = probe_rcode(port, name, qtype)
        if rcode:
            return rcode
        if child.proc.poll() is not None:
            break
    raise RuntimeError(f"{child.name} does not answer on 127.0.0.1:{port}; see {child.log_path}")


def start_knotds(count, tmp, zone_dir, apexes, probe, ports):
    """`count` knotd on the given ports, each answering the probe query; returns the ports."""
    for index, port in enumerate(ports[:count]):
        work_dir = os.path.join(tmp, f"knot{index}")
        for sub in ("run", "storage"):
            os.makedirs(os.path.join(work_dir, sub), exist_ok=True)
        config_path = os.path.join(work_dir, "knot.conf")
        with open(config_path, "w") as config:
            config.write(knot_config(work_dir, port, zone_dir, apexes))
        child = Child(f"knotd{index}", ["knotd", "-c", config_path], tmp)
        rcode = wait_answering(child, port, *probe)
        if rcode not in ("NOERROR", "NXDOMAIN"):
            raise RuntimeError(f"knotd{index} answers {probe[0]} {probe[1]} with {rcode}")
    return ports[:count]


def start_lb(lb_binary, tmp, listen_port, backend_ports, probe, workers=1):
    """shortline-lb with static backends (default policy, packet affinity, passive health),
    answering the probe through a knotd; returns its port."""
    argv = [lb_binary, "--listen", f"127.0.0.1:{listen_port}", "--workers", str(workers),
            "--backend", ",".join(f"127.0.0.1:{port}" for port in backend_ports)]
    help_text = subprocess.run([lb_binary, "--help"], capture_output=True, text=True,
                               timeout=10).stdout
    if "--admin" in help_text:  # not the fixed default port: another run may hold it
        argv += ["--admin", "127.0.0.1:0"]
    if "--controller-port" in help_text:
        argv += ["--controller-port", "0"]  # static servers: no ScaleRequests
    child = Child("shortline-lb", argv, tmp)
    port = child.wait_listening()
    rcode = wait_answering(child, port, *probe)
    if rcode not in ("NOERROR", "NXDOMAIN"):
        raise RuntimeError(f"shortline-lb answers {probe[0]} {probe[1]} with {rcode}")
    return port


def pick_ports(count):
    """Ports below the ephemeral range: shortline-lb's upstream sockets take ephemeral ones."""
    ports = free_udp_ports_below_ephemeral(count)
    if len(ports) < count:
        sys.exit("error: not enough free UDP ports on 127.0.0.1")
    return ports


def stop_all():
    Child.stop_all()
