"""An upstream nameserver on loopback that answers with crafted replies, UDP and TCP, by the
first label of the question:
  big      a 65,000-byte TXT answer (in one UDP datagram too)
  count    the right ID and question, ANCOUNT 200 over one record
  pointer  the right ID and question, a compression pointer past the end of the message
  silent   no answer at all
  inject   the right answer plus a record for pod.domeos.sohu (a name it has no say over)
  anything else: an A record 192.0.2.77
With "good" after the port, every name but silent gets that A record.
Usage: hostile_upstream.py PORT [good]"""
import socket, struct, sys, threading

PORT = int(sys.argv[1])
GOOD = sys.argv[2:] == ["good"]


def question_end(query):
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    return end + 5


def answer(query):
    qid = query[:2]
    question = query[12:question_end(query)]
    label = question[1:1 + question[0]].decode("ascii", "replace").lower()
    header = lambda an: qid + struct.pack("!HHHHH", 0x8180, 1, an, 0, 0)
    if GOOD and label != "silent":
        label = ""
    if label == "silent":
        return None
    if label == "big":
        strings = b"".join(bytes([255]) + b"x" * 255 for _ in range(253))
        record = b"\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c" + struct.pack("!H", len(strings)) + strings
        return header(1) + question + record
    if label == "inject":
        forged = b"\x03pod\x06domeos\x04sohu\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x06\x06\x06\x06"
        return header(2) + question + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x4d" + forged
    if label == "count":
        return header(200) + question + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x63"
    if label == "pointer":
        return header(1) + question + b"\xcf\xff\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x63"
    return header(1) + question + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x4d"


def serve_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.bind(("127.0.0.1", PORT))
    while True:
        query, peer = s.recvfrom(4096)
        reply = answer(query)
        if reply is not None:
            s.sendto(reply, peer)


def serve_tcp_connection(conn):
    with conn:
        while True:
            head = conn.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return
            query = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
            reply = answer(query)
            if reply is not None:
                conn.sendall(struct.pack("!H", len(reply)) + reply)


def serve_tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", PORT))
    s.listen(64)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve_tcp_connection, args=(conn,), daemon=True).start()


threading.Thread(target=serve_tcp, daemon=True).start()
serve_udp()
