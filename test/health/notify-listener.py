"""A stand-in for systemd's notification socket: binds a unix datagram socket (a path, or '@name' for an abstract
one) and prints each datagram it receives as one JSON line. Passed file descriptors (systemd-notify's BARRIER=1)
are closed by the kernel because no ancillary buffer is offered, which is what releases the sender's barrier."""
import json
import socket
import sys

address = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + address[1:] if address.startswith("@") else address)
print(json.dumps({"listening": address}), flush=True)
while True:
    data = sock.recv(65536)
    print(json.dumps({"datagram": data.decode("utf-8", "replace")}), flush=True)
